import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";

const dbPackageDir = path.resolve(import.meta.dirname, "..");

/**
 * Applies every pending migration in prisma/migrations with `prisma migrate deploy` (the real tool, with its
 * wasm schema engine: nothing is downloaded). Throws with Prisma's output when a migration fails.
 */
export async function migrateDeploy(databaseUrl: string): Promise<void> {
  const require = createRequire(path.join(dbPackageDir, "package.json"));
  const prismaCli = require.resolve("prisma/build/index.js");
  const output: string[] = [];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, [prismaCli, "migrate", "deploy"], {
      cwd: dbPackageDir,
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        CHECKPOINT_DISABLE: "1",
        PRISMA_HIDE_UPDATE_MESSAGE: "1",
        NODE_OPTIONS: `--require=${path.join(dbPackageDir, "scripts/unref-timers.cjs")}`,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (d: Buffer) => output.push(d.toString()));
    child.stderr.on("data", (d: Buffer) => output.push(d.toString()));
    child.on("error", reject);
    child.on("close", (c) => resolve(c ?? 1));
  });
  if (code !== 0) throw new Error(`Database migration failed:\n${output.join("").trim()}`);
}
