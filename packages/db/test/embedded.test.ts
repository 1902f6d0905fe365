import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres } from "../src/embedded";

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
      const pg = await start;
      await pg.stop();
      expect(pg.url).toContain(":54391/lifeboat");
    }
  });
});
