import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { type Simulator, type SimulatorOptions, startSimulator } from "@lifeboat/ovirt-sim";
import { FAST_SIM } from "@lifeboat/ovirt-sim/testing";
import { openRepository, type Repository } from "@lifeboat/repository";
import { EngineClient } from "../../src/engine";
import type { EngineObjectRecord, FlowEvent, FlowHooks, ImageioSettings } from "../../src/flows";

const run = promisify(execFile);

export {
  activeVolumePath,
  FAST_SIM,
  qemuSame,
  simLeftovers as engineLeftovers,
} from "@lifeboat/ovirt-sim/testing";

export interface FlowHarness {
  sim: Simulator;
  engine: EngineClient;
  imageio: ImageioSettings;
  dir: string;
  /** A fresh repository folder under the harness dir. */
  newRepository(name: string): Promise<Repository>;
  /** Hooks that keep every event and engine object record. */
  hooks(signal?: AbortSignal): FlowHooks & { events: FlowEvent[]; records: EngineObjectRecord[] };
  /** A second client of the same engine (e.g. for concurrent flows). */
  newEngine(): EngineClient;
  stop(): Promise<void>;
}

export async function startHarness(opts: Partial<SimulatorOptions> = {}): Promise<FlowHarness> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "lifeboat-flows-"));
  const sim = await startSimulator({ dataDir: path.join(dir, "sim"), ...FAST_SIM, ...opts });
  const engines: EngineClient[] = [];
  const newEngine = () => {
    const e = new EngineClient({
      url: sim.engineUrl,
      username: sim.adminUser,
      password: sim.adminPassword,
      caPem: sim.caPem,
      pollIntervalMs: 25,
      retry: { attempts: 4, baseDelayMs: 20, maxDelayMs: 100 },
    });
    engines.push(e);
    return e;
  };
  const engine = newEngine();
  return {
    sim,
    engine,
    imageio: { caPem: sim.caPem, workers: 3 },
    dir,
    newRepository: (name) =>
      openRepository(path.join(dir, "repos", name), { create: true, chunkSize: 256 * 1024 }),
    hooks(signal) {
      const events: FlowEvent[] = [];
      const records: EngineObjectRecord[] = [];
      return {
        signal,
        events,
        records,
        onEvent: (e) => events.push(e),
        onEngineObject: (o) => {
          records.push(o);
        },
      };
    },
    newEngine,
    async stop() {
      for (const e of engines) await e.close();
      await sim.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function qemuImg(...args: string[]): Promise<string> {
  const { stdout } = await run("qemu-img", args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** The whole guest view of a sim disk. */
export async function guestOf(sim: Simulator, diskId: string): Promise<Buffer> {
  const d = sim.state.disk(diskId);
  if (!d) throw new Error(`no disk ${diskId}`);
  return sim.guest.read(diskId, 0, d.provisionedSize);
}

/** knownLayer as the CLI does it: the newest layer of the repository for an image id, with its checksum. */
export function repositoryKnownLayer(repo: Repository) {
  return async (imageId: string) => {
    const m = (await repo.findLayers({ imageId })).find((l) => typeof l.meta.imageioChecksum === "string");
    return m
      ? { layerId: m.id, sha256: m.sha256, size: m.size, imageioChecksum: m.meta.imageioChecksum as string }
      : undefined;
  };
}

/** `qemu-img info` of a file. */
export async function qemuInfo(file: string): Promise<{ format: string; "backing-filename"?: string }> {
  return JSON.parse(await qemuImg("info", "--output=json", "-U", file));
}
