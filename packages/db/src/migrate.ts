import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { grantAppRole } from "./roles";

// Resolved by name, not from this file's folder: in a bundled process (the CLI, the worker) this code no longer
// sits in packages/db, but the package (its prisma/ folder and the prisma CLI) is still where pnpm put it.
const dbPackageDir = path.dirname(createRequire(import.meta.url).resolve("@lifeboat/db/package.json"));

export interface MigrateOptions {
  /** The role the app connects as, when it is not the owner's: given only the DML it needs (`grantAppRole`). */
  appRole?: string;
}

/**
 * Applies every pending migration in prisma/migrations with `prisma migrate deploy` (the real tool, with its
 * wasm schema engine: nothing is downloaded), as the owner of the tables (`databaseUrl`), then the app role's
 * grants. Throws with Prisma's output when a migration fails; returns the grant step's warnings.
 */
export async function migrateDeploy(databaseUrl: string, opts: MigrateOptions = {}): Promise<string[]> {
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
  return opts.appRole ? grantAppRole(databaseUrl, opts.appRole) : [];
}
