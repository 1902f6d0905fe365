import { engineView, listEngines } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

/** Every registered engine with its connection state (never its password). Site administrators. */
export const list = procedure
  .meta({ permission: "site:engines" })
  .output(z.array(engineView))
  .query(({ ctx }) => listEngines(ctx.db));
