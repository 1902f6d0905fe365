/**
 * Simulator benchmark (not a test): how fast the simulated daemon serves and takes data over HTTPS on loopback,
 * and how fast the qcow2 writer writes guest data, each against a baseline measured in the same run:
 *
 * - file-backend download (curl GET of a ticket to /dev/null) vs `cat` of the same volume file to /dev/null;
 * - NBD (format=raw) download of the guest data, data extents only, 4 connections (undici) vs the file backend
 *   download of the same volume through the same client;
 * - file-backend upload (curl PUT of a qcow2 image) vs `cp` of the same file;
 * - guest writes through the qcow2 writer (4 MiB pieces) vs plain writes of the same bytes into a raw file.
 *
 * Env: BENCH_DATA_MIB (data in the test volume, default 256), BENCH_RUNS (best of, default 2), BENCH_TMP.
 * Prints a table and writes bench-results/ovirt-sim.json.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, open, rm, stat, truncate, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { Qcow2Volume } from "@lifeboat/disk-image";
import { Agent, request } from "undici";
import { openVolumeChain } from "../src/volumes/chain";

const run = promisify(execFile);
const MiB = 1024 * 1024;
const DATA = Number(process.env.BENCH_DATA_MIB ?? 256) * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const SIZE = 4 * DATA;
const tmpRoot = process.env.BENCH_TMP ?? (existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir());

async function best(fn: () => Promise<void>): Promise<number> {
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await fn();
    min = Math.min(min, (performance.now() - t0) / 1000);
  }
  return min;
}

async function json(
  agent: Agent,
  url: string,
  token: string,
  method: "GET" | "POST" = "GET",
  body?: unknown,
) {
  const r = await request(url, {
    method,
    dispatcher: agent,
    headers: {
      accept: "application/json",
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: free-form engine JSON in a benchmark script
  return (await r.body.json()) as any;
}

interface ServerInfo {
  engineUrl: string;
  caPem: string;
  caFile: string;
  user: string;
  password: string;
  dataDir: string;
}

async function startServer(dataDir: string): Promise<{ child: ChildProcess; sim: ServerInfo }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(import.meta.dirname, "server-main.ts"), dataDir],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`simulator exited with ${code}`)));
  });
  return { child, sim: JSON.parse(line) as ServerInfo };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpRoot, "ovirt-sim-bench-"));
  const { child, sim } = await startServer(path.join(dir, "data"));
  const agent = new Agent({ connect: { ca: sim.caPem } });
  const caFile = sim.caFile;
  const results: Record<string, { seconds: number; baseline: number; ratio: number; mib: number }> = {};
  try {
    const form = new URLSearchParams({
      grant_type: "password",
      scope: "ovirt-app-api",
      username: sim.user,
      password: sim.password,
    });
    const tok = await request(sim.engineUrl.replace(/\/api$/, "/sso/oauth/token"), {
      method: "POST",
      dispatcher: agent,
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: form.toString(),
    });
    const token = ((await tok.body.json()) as { access_token: string }).access_token;
    const api = (p: string, method: "GET" | "POST" = "GET", body?: unknown) =>
      json(agent, `${sim.engineUrl}${p}`, token, method, body);
    const waitFor = async (p: string, pred: (j: Record<string, unknown>) => boolean) => {
      for (let i = 0; ; i++) {
        if (i > 3000) throw new Error(`waiting on ${p} for too long`);
        const j = await api(p);
        if (pred(j)) return j;
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    // A cow disk holding DATA bytes of incompressible data in 4 MiB extents spread over 4×DATA.
    const disk = await api("/disks", "POST", {
      name: "bench",
      provisioned_size: String(SIZE),
      format: "cow",
      storage_domains: { storage_domain: [{ name: "data1" }] },
    });
    await waitFor(`/disks/${disk.id}`, (j) => j.status === "ok");
    const vol = {
      id: disk.image_id as string,
      path: path.join(
        sim.dataDir,
        "images",
        disk.storage_domains.storage_domain[0].id,
        disk.id,
        disk.image_id,
      ),
    };
    const chain = await openVolumeChain([{ id: vol.id, path: vol.path, format: "cow" }], { writable: true });
    const piece = randomBytes(4 * MiB);
    for (let off = 0; off < SIZE; off += 16 * MiB) await chain.write(off, piece);
    await chain.close();
    const fileSize = (await stat(vol.path)).size;

    console.error("[bench] volume ready");
    // 1. file backend download vs cat
    const fileT = await waitFor(
      `/imagetransfers/${(await api("/imagetransfers", "POST", { direction: "download", disk: { id: disk.id } })).id}`,
      (j) => j.phase === "transferring",
    );
    const curlGet = await best(async () => {
      await run("curl", [
        "-sS",
        "--fail",
        "--cacert",
        caFile,
        "-o",
        "/dev/null",
        fileT.transfer_url as string,
      ]);
    });
    const cat = await best(async () => {
      await run("sh", ["-c", `cat '${vol.path}' > /dev/null`]);
    });
    results.fileDownload = { seconds: curlGet, baseline: cat, ratio: curlGet / cat, mib: fileSize / MiB };

    console.error("[bench] file download done");
    // 2. NBD download of data extents, 4 connections, vs the file backend through the same client
    const getRanges = async (url: string, ranges: Array<[number, number]>) => {
      let next = 0;
      const worker = async () => {
        for (;;) {
          const i = next++;
          const r = ranges[i];
          if (!r) return;
          const res = await request(url, {
            dispatcher: agent,
            headers: { range: `bytes=${r[0]}-${r[0] + r[1] - 1}` },
          });
          for await (const _ of res.body) {
            // drain
          }
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
    };
    const split = (start: number, length: number): Array<[number, number]> => {
      const out: Array<[number, number]> = [];
      for (let o = start; o < start + length; o += 8 * MiB)
        out.push([o, Math.min(8 * MiB, start + length - o)]);
      return out;
    };
    const fileSame = await best(async () => {
      await getRanges(fileT.transfer_url as string, split(0, fileSize));
    });
    await api(`/imagetransfers/${fileT.id}/finalize`, "POST", {});
    await waitFor(`/disks/${disk.id}`, (j) => j.status === "ok");
    const nbdT = await waitFor(
      `/imagetransfers/${(await api("/imagetransfers", "POST", { direction: "download", disk: { id: disk.id }, format: "raw" })).id}`,
      (j) => j.phase === "transferring",
    );
    const nbd = await best(async () => {
      const ext = (await (
        await request(`${nbdT.transfer_url}/extents`, { dispatcher: agent })
      ).body.json()) as Array<{ start: number; length: number; zero: boolean }>;
      await getRanges(
        nbdT.transfer_url as string,
        ext.filter((e) => !e.zero).flatMap((e) => split(e.start, e.length)),
      );
    });
    results.nbdDownload = { seconds: nbd, baseline: fileSame, ratio: nbd / fileSame, mib: DATA / MiB };
    await api(`/imagetransfers/${nbdT.id}/finalize`, "POST", {});

    console.error("[bench] nbd done");
    // 3. upload of a qcow2 file with curl vs cp
    const src = path.join(dir, "upload.qcow2");
    await run("cp", [vol.path, src]);
    const up = await api("/disks", "POST", {
      name: "bench-up",
      provisioned_size: String(SIZE),
      format: "cow",
      storage_domains: { storage_domain: [{ name: "data1" }] },
    });
    await waitFor(`/disks/${up.id}`, (j) => j.status === "ok");
    const upT = await waitFor(
      `/imagetransfers/${(await api("/imagetransfers", "POST", { direction: "upload", disk: { id: up.id }, inactivity_timeout: "600" })).id}`,
      (j) => j.phase === "transferring",
    );
    const curlPut = await best(async () => {
      await run("curl", [
        "-sS",
        "--fail",
        "--cacert",
        caFile,
        "-X",
        "PUT",
        "-H",
        "Expect:",
        "--data-binary",
        `@${src}`,
        upT.transfer_url as string,
      ]);
    });
    const cp = await best(async () => {
      await run("cp", [src, path.join(dir, "copy.qcow2")]);
    });
    results.fileUpload = { seconds: curlPut, baseline: cp, ratio: curlPut / cp, mib: fileSize / MiB };
    await api(`/imagetransfers/${upT.id}/finalize`, "POST", {});

    console.error("[bench] upload done");
    // 4. qcow2 writer vs raw writes
    const q = path.join(dir, "w.qcow2");
    const r = path.join(dir, "w.raw");
    const writer = await best(async () => {
      await rm(q, { force: true });
      await Qcow2Volume.create(q, { size: SIZE });
      const c = await openVolumeChain([{ id: "w", path: q, format: "cow" }], { writable: true });
      for (let off = 0; off < DATA; off += 4 * MiB) await c.write(off * 2, piece);
      await c.flush();
      await c.close();
    });
    const raw = await best(async () => {
      await writeFile(r, "");
      await truncate(r, SIZE);
      const fh = await open(r, "r+");
      for (let off = 0; off < DATA; off += 4 * MiB) await fh.write(piece, 0, piece.length, off * 2);
      await fh.sync();
      await fh.close();
    });
    results.qcow2Writes = { seconds: writer, baseline: raw, ratio: writer / raw, mib: DATA / MiB };
  } finally {
    await agent.close();
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    await rm(dir, { recursive: true, force: true });
  }
  const rows = Object.entries(results).map(([k, v]) => ({
    bench: k,
    MiB: Math.round(v.mib),
    seconds: v.seconds.toFixed(3),
    "MiB/s": Math.round(v.mib / v.seconds),
    baseline_s: v.baseline.toFixed(3),
    "ratio (x baseline time)": v.ratio.toFixed(2),
  }));
  console.table(rows);
  mkdirSync(path.resolve(import.meta.dirname, "../../../bench-results"), { recursive: true });
  writeFileSync(
    path.resolve(import.meta.dirname, "../../../bench-results/ovirt-sim.json"),
    JSON.stringify({ when: new Date().toISOString(), results }, null, 2),
  );
}

await main();
