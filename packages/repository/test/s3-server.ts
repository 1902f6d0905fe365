import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";

const run = promisify(execFile);
const SCRIPT = path.resolve(import.meta.dirname, "../../../scripts/s3-test-server.sh");

/** The S3 server's settings (the script's export lines), or why it could not start. */
export type S3Server = { env: Record<string, string> } | { error: string };

declare module "vitest" {
  export interface ProvidedContext {
    s3: S3Server;
  }
}

/**
 * vitest globalSetup: one RGW for the whole run, in a temp folder, stopped at the end. A server that cannot
 * start does not skip anything: every S3 test fails with the reason (e.g. the Debian packages to install).
 */
export default async function setup(project: TestProject) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "lifeboat-s3-"));
  const started = Date.now();
  try {
    const { stdout } = await run("bash", [SCRIPT, "start", dir], { maxBuffer: 16 * 1024 * 1024 });
    const env: Record<string, string> = {};
    for (const m of stdout.matchAll(/^export ([A-Z0-9_]+)=(.*)$/gm))
      if (m[1] && m[2] !== undefined) env[m[1]] = m[2];
    project.provide("s3", { env });
    console.error(`[s3] RGW at ${env.LIFEBOAT_S3_ENDPOINT} started in ${Date.now() - started} ms`);
  } catch (e) {
    const stderr = String((e as { stderr?: string }).stderr ?? e);
    project.provide("s3", {
      error: `the S3 test server did not start: ${stderr.trim().split("\n").slice(-15).join("\n")}`,
    });
  }
  return async () => {
    const stopping = Date.now();
    await run("bash", [SCRIPT, "stop", dir]);
    await fs.rm(dir, { recursive: true, force: true });
    console.error(`[s3] RGW stopped in ${Date.now() - stopping} ms`);
  };
}
