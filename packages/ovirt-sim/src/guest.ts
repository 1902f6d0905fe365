import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { Engine, type GuestWriteResult } from "./engine/engine";
import { EngineFault } from "./engine/faults";
import { FaultInjector } from "./faults";
import { TicketRegistry } from "./imageio/tickets";
import { type Discovery, discoveryFile, pidAlive, readJsonFile, Store, tryLockDataDir } from "./store";
import { systemClock } from "./util/clock";

export interface WriteGuestDataOptions {
  dataDir: string;
  vmName: string;
  mib: number;
  seed?: number;
  /** How long to wait for a data dir held by another writer or a starting simulator, ms. */
  waitMs?: number;
}

export interface WriteGuestDataResult extends GuestWriteResult {
  /** "sim": through the running simulator's admin API; "direct": on the files, under the data dir lock. */
  via: "sim" | "direct";
}

function postJson(d: Discovery, route: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const url = new URL(`${d.adminUrl}${route}`);
  const payload = Buffer.from(JSON.stringify(body));
  const lib = d.http ? http : https;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      url,
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${d.adminToken}`,
          "content-type": "application/json",
          "content-length": payload.length,
        },
        ...(d.http ? {} : { ca: readFileSync(d.caFile) }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) });
          } catch {
            resolve({ status: res.statusCode ?? 0, json: { error: text } });
          }
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

function runningSim(dataDir: string): Discovery | null {
  const d = readJsonFile<Discovery>(discoveryFile(dataDir));
  return d && pidAlive(d.pid) ? d : null;
}

/**
 * `sim write`: N MiB of new recognisable data at random places in the VM's active volumes. Goes through the
 * simulator serving the data dir when there is one (never around it); otherwise writes the files directly
 * while holding the data dir lock.
 */
export async function writeGuestData(opts: WriteGuestDataOptions): Promise<WriteGuestDataResult> {
  const dataDir = path.resolve(opts.dataDir);
  const deadline = Date.now() + (opts.waitMs ?? 15_000);
  for (;;) {
    const sim = runningSim(dataDir);
    if (sim) {
      const { status, json } = await postJson(sim, "/guest/write", {
        vm: opts.vmName,
        mib: opts.mib,
        seed: opts.seed,
      });
      if (status !== 200)
        throw new Error(
          `the running simulator refused the write: ${(json as { error?: string }).error ?? status}`,
        );
      return { ...(json as GuestWriteResult), via: "sim" };
    }
    const lock = tryLockDataDir(dataDir, "write");
    if ("release" in lock) {
      try {
        const data = Store.load(dataDir);
        if (!data) throw new Error(`${dataDir} holds no simulator state (start the simulator once first)`);
        const engine = new Engine(
          new Store(dataDir, data),
          systemClock,
          new FaultInjector(),
          new TicketRegistry(systemClock),
          {
            asyncDelayMs: 0,
            transferPollMs: 3_600_000,
            finishedTransferTtlMs: 0,
            legacyTransferRemoval: false,
            autoFinalizeDownloads: false,
            ticketTimeoutS: 300,
            imageioUrl: () => "",
            proxyUrl: () => "",
            unreachableUrl: () => "",
          },
        );
        try {
          const r = await engine.guestWrite(opts.vmName, opts.mib, { seed: opts.seed });
          return { ...r, via: "direct" };
        } catch (e) {
          if (e instanceof EngineFault) throw new Error(e.detail.replace(/^\[|\]$/g, ""));
          throw e;
        } finally {
          await engine.stop();
        }
      } finally {
        lock.release();
      }
    }
    // Held by a live writer, or a simulator that has not published sim.json yet: wait.
    if (Date.now() > deadline) throw new Error(`${dataDir} is busy (pid ${lock.pid} holds its lock)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
