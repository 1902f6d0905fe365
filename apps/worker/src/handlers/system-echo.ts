import os from "node:os";
import type { JobHandler } from "../job-context";

/** Answers a diagnostics ping: which worker took the job, echoing the message. */
export const systemEcho: JobHandler<"system.echo"> = async ({ input }) => ({
  echo: input.message,
  worker: `${os.hostname()}:${process.pid}`,
});
