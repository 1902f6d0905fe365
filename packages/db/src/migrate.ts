import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";

// Resolved by name, not from this file's folder: in a bundled process (the CLI, the worker) this code no longer
// sits in packages/db, but the package (its prisma/ folder and the prisma CLI) is still where pnpm put it.
const dbPackageDir = path.dirname(createRequire(import.meta.url).resolve("@lifeboat/db/package.json"));

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
