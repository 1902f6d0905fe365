import { serverEnv } from "@lifeboat/config";
import { warnAboutAppRole } from "@lifeboat/db";
import { domainConfig } from "@lifeboat/domain";
import { startWorker } from "./worker";

// A standalone worker process (`pnpm --filter @lifeboat/worker start`); `lifeboat start` runs one too.
const env = serverEnv();
if (!env.DATABASE_URL) {
  console.error("lifeboat worker: DATABASE_URL is not set");
  process.exit(2);
}
await warnAboutAppRole(env.DATABASE_URL, (line) => console.error(`[worker] ${line}`));
const worker = await startWorker({
  databaseUrl: env.DATABASE_URL,
  config: domainConfig(env),
  leaseSeconds: env.LIFEBOAT_JOB_LEASE_SECONDS,
  engineConcurrency: env.LIFEBOAT_ENGINE_CONCURRENCY,
  checkpointChain: env.LIFEBOAT_CHECKPOINT_CHAIN,
});
console.log(`[worker] ready (pid ${process.pid})`);
const stop = async (signal: string) => {
  console.log(`[worker] ${signal}: finishing`);
  await worker.stop();
  process.exit(0);
};
process.once("SIGINT", () => void stop("SIGINT"));
process.once("SIGTERM", () => void stop("SIGTERM"));
