import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres } from "../src/embedded";
import { EMBEDDED_APP_ROLE } from "../src/roles";
import { freePort } from "../src/testing";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("embedded PostgreSQL in a private folder", () => {
  it("starts where its OS user can reach the folder, and otherwise says which folder and what to set", async () => {
    // mkdtemp makes a 0700 folder: only its owner may traverse it.
    const privateDir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeboat-private-"));
    dirs.push(privateDir);
    const dataDir = path.join(privateDir, "pg");
    const start = startEmbeddedPostgres({ dataDir, port: 54391, ephemeral: true });
    if (process.getuid?.() === 0) {
      // As root, PostgreSQL runs as the OS user 'postgres', which cannot enter root's private folder.
      await expect(start).rejects.toThrow(/cannot reach .*lifeboat-private-.*set LIFEBOAT_DATA_DIR/);
      expect(fs.existsSync(path.join(dataDir, "cluster"))).toBe(false);
    } else {
      // As an ordinary user, PostgreSQL runs as that user, the folder's owner.
      const cluster = await start;
      await cluster.stop();
      expect(cluster.url).toContain(":54391/lifeboat");
    }
  });
});

describe("embedded PostgreSQL roles", () => {
  it("hands the app a role that is neither superuser nor owner, with the same password on every start", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeboat-roles-pg-"));
    fs.chmodSync(dataDir, 0o755);
    dirs.push(dataDir);
    const port = await freePort();
    for (let start = 0; start < 2; start++) {
      const cluster = await startEmbeddedPostgres({ dataDir, port });
      try {
        expect(new URL(cluster.url).username).toBe(EMBEDDED_APP_ROLE);
        expect(new URL(cluster.ownerUrl).username).toBe("postgres");
        const c = new pg.Client({ connectionString: cluster.url });
        await c.connect();
        const { rows } = await c.query(
          "select current_user as role, rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = current_user",
        );
        await c.end();
        expect(rows).toEqual([
          { role: EMBEDDED_APP_ROLE, rolsuper: false, rolcreaterole: false, rolcreatedb: false },
        ]);
      } finally {
        await cluster.stop();
      }
    }
  });
});

describe("embedded PostgreSQL killed", () => {
  it("reports the postmaster's death and starts again on the same folder with the data kept", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeboat-killed-pg-"));
    fs.chmodSync(dataDir, 0o755);
    dirs.push(dataDir);
    const port = await freePort();
    const first = await startEmbeddedPostgres({ dataDir, port });
    const client = new pg.Client({ connectionString: first.ownerUrl });
    await client.connect();
    await client.query("create table kept (v text); insert into kept values ('before the crash')");
    await client.end();

    const pid = Number(
      fs.readFileSync(path.join(dataDir, "cluster", "postmaster.pid"), "utf8").split("\n")[0],
    );
    process.kill(pid, "SIGKILL");
    expect(await first.exited).toBe("signal SIGKILL");

    // The stale postmaster.pid and the dying backends' shared memory must not keep it down for long.
    let second: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
    for (let attempt = 0; !second; attempt++) {
      try {
        second = await startEmbeddedPostgres({ dataDir, port });
      } catch (e) {
        if (attempt >= 10) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const again = new pg.Client({ connectionString: second.ownerUrl });
    await again.connect();
    const { rows } = await again.query("select v from kept");
    await again.end();
    await second.stop();
    expect(rows).toEqual([{ v: "before the crash" }]);
    expect(await second.exited).toMatch(/^(exit code 0|signal SIGINT)$/);
  });
});
