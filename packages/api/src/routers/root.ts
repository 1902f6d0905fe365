import { router } from "../trpc";
import { get as jobsGet } from "./jobs/get";
import { get as meGet } from "./me/get";
import { summary } from "./overview/summary";
import { health } from "./system/health";
import { ping } from "./system/ping";

export const appRouter = router({
  system: router({ health, ping }),
  me: router({ get: meGet }),
  overview: router({ summary }),
  jobs: router({ get: jobsGet }),
});

export type AppRouter = typeof appRouter;
