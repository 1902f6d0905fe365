import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo, Server as NetServer } from "node:net";
import net from "node:net";
import path from "node:path";
import { ADMIN_PREFIX, createAdminHandler } from "./admin";
import { AuthService } from "./engine/auth";
import { DEFAULT_ENGINE_VERSION, Engine, type GuestWriteResult, versionAtLeast } from "./engine/engine";
import { EngineRecorder } from "./engine/recorder";
import { createEngineHandler } from "./engine/server";
import { FaultInjector } from "./faults";
import { createControlHandler } from "./imageio/control";
import { ImageioRecorder } from "./imageio/recorder";
import { configureImageioServer, createImageioHandler } from "./imageio/server";
import { TicketRegistry } from "./imageio/tickets";
import type {
  BackupRec,
  CheckpointRec,
  ClusterLevel,
  ClusterRec,
  DiskRec,
  EventRec,
  JobRec,
  SimStateData,
  SnapshotRec,
  StorageDomainRec,
  TransferRec,
  VmRec,
  VolumeRec,
} from "./model";
import { ensurePki } from "./pki";
import { baseState, seedDemo } from "./seed";
import { type Discovery, discoveryFile, Store, tryLockDataDir, writeFileAtomic } from "./store";
import { attachTestHooks } from "./test-hooks";
import { type SimClock, systemClock } from "./util/clock";
import { newId } from "./util/ids";

export interface SimulatorOptions {
  dataDir: string;
  /** Address to listen on and to put in URLs; default 127.0.0.1. */
  host?: string;
  /** 0 = a free port (default). */
  enginePort?: number;
  imageioPort?: number;
  proxyPort?: number;
  /** Plain HTTP instead of HTTPS on all ports. */
  http?: boolean;
  /** Seed the demo VMs; default: on first start (an empty data dir). */
  seed?: boolean;
  /** small: the same shapes with 64–128 MiB disks and a few MiB of data, for fast tests. */
  seedScale?: "demo" | "small";
  clock?: SimClock;
  /** Transfer monitor period, ms (default 1000). */
  transferPollMs?: number;
  /** Delay of `locked → ok` for snapshots and disks, ms (default 1000). */
  asyncDelayMs?: number;
  /** SSO token lifetime without use, ms (default 30 min). */
  tokenTtlMs?: number;
  /**
   * The engine version it answers as (default 4.5.5). Older versions behave as those engines did: before
   * 4.4.3 no `/disks/{id}/disksnapshots`; before 4.4.7 finished transfers and backups vanish (404, unless
   * the two `legacy…` options say otherwise); before 4.5.1 OVF imports answer 202 and run on image_locked.
   */
  engineVersion?: string;
  /** How long finished transfers stay visible, ms (default 5 min, 4.4.7+ behaviour). */
  finishedTransferTtlMs?: number;
  /** Pre-4.4.7: finished transfers disappear at once (404). */
  legacyTransferRemoval?: boolean;
  /** Pre-4.4.7: a backup disappears (404) once it ends instead of showing `succeeded` / `failed`. */
  legacyBackupRemoval?: boolean;
  /** Compatibility level of the Default cluster (default 4.7); applied at every start, like an upgrade. */
  clusterLevel?: ClusterLevel;
  /** Further clusters (created when missing) with their levels, for VMs at several levels in one sim. */
  clusters?: Array<{ name: string; level: ClusterLevel }>;
  /** The engine's auto-finalize heuristic for completed, idle downloads (default off). */
  autoFinalizeDownloads?: boolean;
  /** Lifetime of the daemon tickets the engine creates, s (default 300; renewed while transferring). */
  ticketTimeoutS?: number;
}

/** Read-only views of the simulator's state for tests (deep copies). */
export interface SimStateView {
  /** The whole state; `cluster` is the Default cluster (`clusters[0]`), kept for callers written before levels. */
  raw(): SimStateData & { cluster: ClusterRec };
  vms(): VmRec[];
  vm(nameOrId: string): VmRec | undefined;
  disks(): DiskRec[];
  disk(id: string): DiskRec | undefined;
  /** A disk's volumes base → active, with the path of each volume file. */
  volumes(diskId: string): Array<VolumeRec & { path: string }>;
  snapshots(vmId?: string): SnapshotRec[];
  storageDomains(): StorageDomainRec[];
  transfers(): TransferRec[];
  backups(vmId?: string): BackupRec[];
  /** Checkpoints, also the pending ones of running backups. */
  checkpoints(vmId?: string): CheckpointRec[];
  clusters(): ClusterRec[];
  /** Daemon tickets as `GET /tickets/<id>` shows them. */
  tickets(): Array<Record<string, unknown>>;
  jobs(): JobRec[];
  events(): EventRec[];
}

export interface Simulator {
  /** e.g. https://127.0.0.1:8443/ovirt-engine/api */
  engineUrl: string;
  caPem: string;
  caFile: string;
  adminUser: "admin@internal";
  adminPassword: string;
  /** Daemon base URL (transfer_url host), e.g. https://127.0.0.1:54322 */
  imageioUrl: string;
  /** Proxy base URL (proxy_url host). */
  proxyUrl: string;
  /** The simulator's admin API and its bearer token. */
  adminUrl: string;
  adminToken: string;
  /** Unix socket of the daemon control API (`/tickets/...`), or null when the path would be too long. */
  controlSocket: string | null;
  dataDir: string;
  faults: FaultInjector;
  guest: {
    write(vmName: string, mib: number, opts?: { seed?: number; diskId?: string }): Promise<GuestWriteResult>;
    /** `data` written by the guest at `offset` of one disk (dirty bitmaps track it). */
    writeAt(diskId: string, offset: number, data: Buffer): Promise<void>;
    /** Guest data of the disk's active chain. */
    read(diskId: string, offset: number, length: number): Promise<Buffer>;
  };
  /** Changes a cluster's compatibility level (by name or id), as an engine upgrade does. */
  setClusterLevel(cluster: string, level: ClusterLevel): void;
  state: SimStateView;
  /** Ends every SSO token and session (clients must log in again). */
  revokeTokens(): void;
  stop(): Promise<void>;
}

function listen(server: NetServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => {
      server.off("listening", onListening);
      reject(
        new Error(`cannot listen on ${host}:${port}: ${(e as NodeJS.ErrnoException).code ?? e.message}`),
      );
    };
    const onListening = () => {
      server.off("error", onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

async function freeUnusedPort(host: string): Promise<number> {
  const s = net.createServer();
  const port = await listen(s, 0, host);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "::") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

/**
 * Starts the simulated engine and imageio daemon (and proxy) on one data dir. The data dir is locked for
 * the simulator's lifetime; `<data>/sim.json` tells `sim write` how to reach the admin API.
 */
export async function startSimulator(opts: SimulatorOptions): Promise<Simulator> {
  const dataDir = path.resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const lock = tryLockDataDir(dataDir, "sim");
  if (!("release" in lock))
    throw new Error(
      `data dir ${dataDir} is in use by a ${lock.kind === "sim" ? "running simulator" : "sim write"} (pid ${lock.pid})`,
    );
  const cleanups: Array<() => Promise<void> | void> = [() => lock.release()];
  const cleanup = async () => {
    for (const f of cleanups.reverse()) await f();
  };
  try {
    const host = opts.host ?? "127.0.0.1";
    const plain = opts.http ?? false;
    const pki = ensurePki(dataDir, host);
    const pwFile = path.join(dataDir, "admin-password");
    if (!existsSync(pwFile)) writeFileAtomic(pwFile, `${randomBytes(12).toString("base64url")}\n`, 0o600);
    const adminPassword = readFileSync(pwFile, "utf8").trim();
    const loaded = Store.load(dataDir);
    const store = new Store(dataDir, loaded ?? baseState(host));
    const defaultCluster = store.data.clusters[0];
    if (opts.clusterLevel && defaultCluster) defaultCluster.level = opts.clusterLevel;
    for (const c of opts.clusters ?? []) {
      const known = store.data.clusters.find((x) => x.name === c.name);
      if (known) known.level = c.level;
      else
        store.data.clusters.push({
          id: newId(),
          name: c.name,
          dataCenterId: store.data.dataCenter.id,
          level: c.level,
        });
    }
    const clock = opts.clock ?? systemClock;
    const faults = new FaultInjector();
    const tickets = new TicketRegistry(clock);
    const scheme = plain ? "http" : "https";
    const hostInUrl = urlHost(host);
    let imageioPort = 0;
    let proxyPort = 0;
    let unreachablePort = 0;
    const engineVersion = opts.engineVersion ?? DEFAULT_ENGINE_VERSION;
    const engine = new Engine(store, clock, faults, tickets, {
      asyncDelayMs: opts.asyncDelayMs ?? 1000,
      transferPollMs: opts.transferPollMs ?? 1000,
      finishedTransferTtlMs: opts.finishedTransferTtlMs ?? 5 * 60_000,
      legacyTransferRemoval: opts.legacyTransferRemoval ?? !versionAtLeast(engineVersion, "4.4.7"),
      legacyBackupRemoval: opts.legacyBackupRemoval ?? !versionAtLeast(engineVersion, "4.4.7"),
      engineVersion,
      autoFinalizeDownloads: opts.autoFinalizeDownloads ?? false,
      ticketTimeoutS: opts.ticketTimeoutS ?? 300,
      imageioUrl: () => `${scheme}://${hostInUrl}:${imageioPort}`,
      proxyUrl: () => `${scheme}://${hostInUrl}:${proxyPort}`,
      unreachableUrl: () => `${scheme}://${hostInUrl}:${unreachablePort}`,
    });
    cleanups.push(async () => {
      await engine.stop();
      store.save();
    });
    const wantSeed = opts.seed ?? loaded === null;
    if (wantSeed && store.data.vms.length === 0) await seedDemo(engine, opts.seedScale ?? "demo");
    store.save();
    engine.resumePending();

    const auth = new AuthService(clock, "admin@internal", adminPassword, opts.tokenTtlMs ?? 30 * 60_000);
    const adminToken = randomBytes(24).toString("base64url");
    const engineRecorder = new EngineRecorder();
    const engineHandler = createEngineHandler({
      engine,
      auth,
      caPem: pki.caPem,
      admin: createAdminHandler(engine, adminToken),
      recorder: engineRecorder,
    });
    const imageioRecorder = new ImageioRecorder();
    const imageioHandler = createImageioHandler({
      tickets,
      faults,
      mutex: engine.diskMutex,
      recorder: imageioRecorder,
    });
    const make = (handler: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>) => {
      const h = (req: http.IncomingMessage, res: http.ServerResponse) => void handler(req, res);
      return plain ? http.createServer(h) : https.createServer({ key: pki.keyPem, cert: pki.certPem }, h);
    };
    const engineServer = make(engineHandler);
    engineServer.requestTimeout = 0;
    const imageioServer = make(imageioHandler);
    const proxyServer = make(imageioHandler);
    configureImageioServer(imageioServer);
    configureImageioServer(proxyServer);
    const enginePort = await listen(engineServer, opts.enginePort ?? 0, host);
    cleanups.push(() => closeServer(engineServer));
    imageioPort = await listen(imageioServer, opts.imageioPort ?? 0, host);
    cleanups.push(() => closeServer(imageioServer));
    proxyPort = await listen(proxyServer, opts.proxyPort ?? 0, host);
    cleanups.push(() => closeServer(proxyServer));
    unreachablePort = await freeUnusedPort(host);

    // The daemon control API on a unix socket (skipped when the path exceeds the sockaddr limit).
    let controlSocket: string | null = path.join(dataDir, "imageio-control.sock");
    if (Buffer.byteLength(controlSocket) > 100) controlSocket = null;
    if (controlSocket) {
      rmSync(controlSocket, { force: true });
      const control = http.createServer((req, res) => void createControlHandler(tickets)(req, res));
      await new Promise<void>((resolve, reject) => {
        control.once("error", reject);
        control.listen(controlSocket as string, () => resolve());
      });
      const sock = controlSocket;
      cleanups.push(async () => {
        await closeServer(control);
        rmSync(sock, { force: true });
      });
    }

    const engineUrl = `${scheme}://${hostInUrl}:${enginePort}/ovirt-engine/api`;
    const adminUrl = `${scheme}://${hostInUrl}:${enginePort}${ADMIN_PREFIX}`;
    const discovery: Discovery = {
      pid: process.pid,
      engineUrl,
      adminUrl,
      adminToken,
      caFile: pki.caFile,
      http: plain,
    };
    const discFile = discoveryFile(dataDir);
    writeFileAtomic(discFile, JSON.stringify(discovery), 0o600);
    cleanups.push(() => rmSync(discFile, { force: true }));
    cleanups.push(() => tickets.clear());

    const clone = <T>(v: T): T => structuredClone(v);
    const state: SimStateView = {
      raw: () => {
        const data = clone(store.data);
        return { ...data, cluster: data.clusters[0] as ClusterRec };
      },
      vms: () => clone(store.data.vms),
      vm: (k) => clone(store.data.vms.find((v) => v.id === k || v.name === k)),
      disks: () => clone(store.data.disks),
      disk: (id) => clone(store.data.disks.find((d) => d.id === id)),
      volumes: (diskId) => {
        const d = store.data.disks.find((x) => x.id === diskId);
        return d ? d.volumes.map((v) => ({ ...clone(v), path: engine.volumePath(d, v) })) : [];
      },
      snapshots: (vmId) => clone(store.data.snapshots.filter((s) => !vmId || s.vmId === vmId)),
      storageDomains: () => clone(store.data.storageDomains),
      transfers: () => clone(store.data.transfers),
      backups: (vmId) => clone(store.data.backups.filter((b) => !vmId || b.vmId === vmId)),
      checkpoints: (vmId) => clone(store.data.checkpoints.filter((c) => !vmId || c.vmId === vmId)),
      clusters: () => clone(store.data.clusters),
      tickets: () => tickets.list().map((t) => t.status()),
      jobs: () => clone(store.data.jobs),
      events: () => clone(store.data.events),
    };

    let stopped = false;
    const sim: Simulator = {
      engineUrl,
      caPem: pki.caPem,
      caFile: pki.caFile,
      adminUser: "admin@internal",
      adminPassword,
      imageioUrl: `${scheme}://${hostInUrl}:${imageioPort}`,
      proxyUrl: `${scheme}://${hostInUrl}:${proxyPort}`,
      adminUrl,
      adminToken,
      controlSocket,
      dataDir,
      faults,
      guest: {
        write: (vmName, mib, o) => engine.guestWrite(vmName, mib, o),
        writeAt: (diskId, offset, data) => engine.guestWriteAt(diskId, offset, data),
        read: (diskId, offset, length) => engine.guestRead(diskId, offset, length),
      },
      setClusterLevel(cluster, level) {
        const c = store.data.clusters.find((x) => x.name === cluster || x.id === cluster);
        if (!c) throw new Error(`no cluster ${cluster}`);
        c.level = level;
        store.save();
      },
      state,
      revokeTokens: () => auth.revokeAll(),
      async stop() {
        if (stopped) return;
        stopped = true;
        await cleanup();
      },
    };
    attachTestHooks(sim, { tickets, imageioRecorder, engineRecorder });
    return sim;
  } catch (e) {
    await cleanup();
    throw e;
  }
}
