import type { Agent } from "undici";
import { type EngineHttp, io, type Json } from "./sim";

const FINAL = ["finished_success", "finished_failure", "finished_cleanup"];

/** Creates a transfer and waits until it leaves `initializing`. */
export async function startTransfer(api: EngineHttp, body: Record<string, unknown>): Promise<Json> {
  const a = await api.post("/imagetransfers", body);
  if (a.status !== 201) throw new Error(`transfer add: ${a.status} ${a.text}`);
  return api.waitFor(`/imagetransfers/${a.json.id}`, (j) => j.phase !== "initializing");
}

/** Finalizes and waits for a finished phase (4.4.7+: the entity stays). */
export async function finalize(api: EngineHttp, id: string): Promise<Json> {
  const f = await api.post(`/imagetransfers/${id}/finalize`, {});
  if (f.status !== 200) throw new Error(`finalize: ${f.status} ${f.text}`);
  return api.waitFor(`/imagetransfers/${id}`, (j) => FINAL.includes(j.phase));
}

export async function waitPhase(api: EngineHttp, id: string, phases: string[]): Promise<Json> {
  return api.waitFor(`/imagetransfers/${id}`, (j) => phases.includes(j.phase));
}

/** Downloads a whole ticket with one plain GET (like the 4.2 example scripts). */
export async function downloadAll(agent: Agent, url: string): Promise<Buffer> {
  const r = await io(agent, "GET", url);
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${r.body.toString()}`);
  return r.body;
}

/** Uploads a buffer in 1 MiB PUTs with Content-Range and flush=n, then one PATCH flush. */
export async function uploadAll(agent: Agent, url: string, data: Buffer): Promise<void> {
  const step = 1024 * 1024;
  for (let off = 0; off < data.length; off += step) {
    const chunk = data.subarray(off, Math.min(data.length, off + step));
    const r = await io(agent, "PUT", `${url}?flush=n`, {
      headers: {
        "content-range": `bytes ${off}-${off + chunk.length - 1}/${data.length}`,
        "content-length": String(chunk.length),
      },
      body: chunk,
    });
    if (r.status !== 200) throw new Error(`PUT ${off}: ${r.status} ${r.body.toString()}`);
  }
  const f = await io(agent, "PATCH", url, {
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ op: "flush" }),
  });
  if (f.status !== 200) throw new Error(`PATCH flush: ${f.status} ${f.body.toString()}`);
}

/** Creates a floating disk and waits for `ok`. */
export async function addDisk(api: EngineHttp, body: Record<string, unknown>): Promise<Json> {
  const a = await api.post("/disks", body);
  if (a.status !== 201) throw new Error(`disk add: ${a.status} ${a.text}`);
  return api.waitFor(`/disks/${a.json.id}`, (j) => j.status === "ok");
}
