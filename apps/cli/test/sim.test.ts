import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lifeboat, lifeboatBin, repoRoot } from "./support/run-cli";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "lifeboat-cli-sim-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Starts `lifeboat sim` and resolves once it printed its URLs. */
function startSim(args: string[]): Promise<{ child: ChildProcess; out: Record<string, string> }> {
  const child = spawn(process.execPath, [lifeboatBin, "sim", ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.stdout?.on("data", (c: Buffer) => {
      stdout += c.toString();
      if (!stdout.includes("imageio:")) return;
      const out: Record<string, string> = {};
      for (const line of stdout.split("\n")) {
        const m = /^([A-Za-z ]+):\s+(.*)$/.exec(line);
        if (m) out[(m[1] as string).trim()] = (m[2] as string).trim();
      }
      resolve({ child, out });
    });
    child.once("exit", (code) => reject(new Error(`lifeboat sim exited with ${code}: ${stderr}`)));
  });
}

/** GET over HTTPS verified against the simulator's CA (node:https, as the CLI package has no HTTP client). */
function getJson(
  url: string,
  ca: string,
  headers: Record<string, string>,
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, headers }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(body) }));
      })
      .on("error", reject);
  });
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

describe("lifeboat sim", () => {
  it("serves the seeded VMs over HTTPS, takes guest writes through the running sim, stops on SIGTERM", async () => {
    const { child, out } = await startSim([
      "--data",
      dir,
      "--port",
      "0",
      "--imageio-port",
      "0",
      "--proxy-port",
      "0",
      "--seed-scale",
      "small",
    ]);
    try {
      expect(out["Engine URL"]).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/ovirt-engine\/api$/);
      expect(out.User).toBe("admin@internal");
      const ca = await readFile(out["CA file"] as string, "utf8");
      const basic = Buffer.from(`admin@internal:${out.Password}`).toString("base64");
      const r = await getJson(`${out["Engine URL"]}/vms`, ca, {
        accept: "application/json",
        authorization: `Basic ${basic}`,
      });
      expect(r.status).toBe(200);
      const vms = (r.json as { vm: Array<{ name: string }> }).vm.map((v) => v.name).sort();
      expect(vms).toEqual(["app01", "db01", "web01"]);

      const w = await lifeboat(["sim", "write", "--data", dir, "app01", "--mib", "2", "--seed", "3"]);
      expect(w.code).toBe(0);
      expect(w.stderr).toMatch(/wrote 2 MiB into app01 \(through the running simulator\)/);
      expect(w.stdout).toMatch(/^[0-9a-f-]{36} [0-9a-f-]{36} \d+\+1048576/);
      expect(existsSync(path.join(dir, "sim.json"))).toBe(true);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exitOf(child)).toBe(0);
    expect(existsSync(path.join(dir, "sim.json"))).toBe(false);
    expect(existsSync(path.join(dir, "sim.lock"))).toBe(false);
  });

  it("writes directly when no simulator serves the data dir; reports usage and operational errors", async () => {
    const w = await lifeboat(["sim", "--data", dir, "write", "web01", "--mib", "1"]);
    expect(w.code).toBe(0);
    expect(w.stderr).toMatch(/\(directly\)/);
    expect((await lifeboat(["sim", "write", "web01", "--mib", "1"])).code).toBe(2);
    expect((await lifeboat(["sim", "write", "--data", dir, "web01", "--mib", "0"])).code).toBe(2);
    const missing = await lifeboat(["sim", "write", "--data", dir, "nope", "--mib", "1"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^lifeboat: .*nope/m);
    expect((await lifeboat(["sim", "--data", dir, "--seed-scale", "huge"])).code).toBe(2);
  });
});
