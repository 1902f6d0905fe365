import { createHash, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { sealSecret } from "@lifeboat/config";
import type { Job } from "@lifeboat/db";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import type { Permission, Person } from "@lifeboat/domain";
import { createJobQueue, type JobQueue, stopBosses } from "@lifeboat/jobs";
import { type Simulator, type SimulatorOptions, startSimulator } from "@lifeboat/ovirt-sim";
import { FAST_SIM } from "@lifeboat/ovirt-sim/testing";
import { openRepository, type Repository } from "@lifeboat/repository";
import { inject } from "vitest";
import { startWorker, type Worker } from "../../src/worker";
import { type Acting, acting, createPerson, ENCRYPTION_KEY, testConfig } from "./people";

export { activeVolumePath, FAST_SIM, qemuSame, simLeftovers } from "@lifeboat/ovirt-sim/testing";
export { type Acting, acting, createPerson, ENCRYPTION_KEY, testConfig } from "./people";

/**
 * Everything a worker test needs, all real: a migrated PostgreSQL database, the simulated engine registered as
 * an engine of the catalog (password sealed), a repository folder, the job queue, a site admin and a team
 * operator (the team owns every VM) who call the domain's operations, and in-process workers on demand.
 */
export interface Stack {
  t: TestDatabase;
  sim: Simulator;
  engineId: string;
  dir: string;
  repoDir: string;
  queue: JobQueue;
  admin: Person;
  operator: Person;
  /** A member of the team with `role`. */
  member(role: string): Promise<Person>;
  /** Runs a domain operation as `person` with `permission` (the scope the API's guard would resolve). */
  run<T>(person: Person, permission: Permission, op: (c: Acting) => Promise<T>): Promise<T>;
  teamId: string;
  workers: Worker[];
  startWorker(opts?: {
    engineConcurrency?: number;
    leaseSeconds?: number;
    checkpointChain?: number;
  }): Promise<Worker>;
  /** The catalog VM of a sim VM (created through backups.start's inventory path on first use). */
  vmRow(name: string): Promise<{ id: string; vmId: string; name: string }>;
  /** Waits until the job reaches one of `states`; throws with its error and events otherwise. */
  waitJob(jobId: string, states?: string[], timeoutMs?: number): Promise<Job>;
  /** Waits until `check` holds for the job row. */
  waitFor(jobId: string, check: (job: Job) => boolean | Promise<boolean>, timeoutMs?: number): Promise<Job>;
  repository(): Promise<Repository>;
  /** Env for worker processes (node --import tsx apps/worker/src/main.ts). */
  workerEnv(extra?: Record<string, string>): NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** Registers a sim as an engine of the catalog, its password sealed with the tests' key. */
export async function registerEngine(t: TestDatabase, sim: Simulator, name: string) {
  return t.db.engine.create({
    data: {
      name,
      apiUrl: sim.engineUrl,
      username: sim.adminUser,
      secretSealed: sealSecret(sim.adminPassword, Buffer.from(ENCRYPTION_KEY, "hex")),
      caPem: sim.caPem,
      simulated: true,
    },
  });
}

export async function startStack(opts: { sim?: Partial<SimulatorOptions> } = {}): Promise<Stack> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "lifeboat-worker-"));
  const repoDir = path.join(dir, "repository");
  const t = await createTestDatabase(inject("testDatabase"));
  // Cluster level 4.4 (no incremental backup): backup.vm's auto mode takes the snapshot chain the suites assert;
  // the backup-API suite asks for 4.7.
  const sim = await startSimulator({
    dataDir: path.join(dir, "sim"),
    ...FAST_SIM,
    clusterLevel: "4.4",
    ...opts.sim,
  });
  const engine = await registerEngine(t, sim, "Simulated engine");
  const queue = createJobQueue(t.db, t.url);
  const admin = await createPerson(t.db, {
    email: `admin-${randomUUID().slice(0, 6)}@worker.test`,
    siteAdmin: true,
  });
  const teamId = randomUUID();
  await t.db.team.create({ data: { id: teamId, name: "Operations", slug: `ops-${teamId.slice(0, 6)}` } });
  // The team owns every VM of the engine.
  await t.db.teamVmRule.create({ data: { teamId, kind: "name-pattern", pattern: "*", engineId: engine.id } });
  async function member(role: string): Promise<Person> {
    const person = await createPerson(t.db, { email: `${role}-${randomUUID().slice(0, 6)}@worker.test` });
    await t.db.membership.create({ data: { id: randomUUID(), teamId, userId: person.userId, role } });
    return person;
  }
  const operator = await member("operator");
  const workers: Worker[] = [];
  let repo: Repository | undefined;

  const stack: Stack = {
    t,
    sim,
    engineId: engine.id,
    dir,
    repoDir,
    queue,
    admin,
    operator,
    member,
    run: async (person, permission, op) =>
      op(await acting(t.db, queue, person, permission, testConfig(repoDir))),
    teamId,
    workers,
    async startWorker(w = {}) {
      const worker = await startWorker({
        databaseUrl: t.url,
        pollingIntervalSeconds: 0.5,
        leaseSeconds: w.leaseSeconds ?? 5,
        engineConcurrency: w.engineConcurrency ?? 2,
        checkpointChain: w.checkpointChain,
        config: testConfig(repoDir),
      });
      workers.push(worker);
      return worker;
    },
    async vmRow(name) {
      const simVm = sim.state.vm(name);
      if (!simVm) throw new Error(`the sim has no VM ${name}`);
      const known = await t.db.vm.findUnique({
        where: { engineId_vmId: { engineId: engine.id, vmId: simVm.id } },
      });
      if (known) return known;
      const { recomputeVmTeams } = await import("@lifeboat/domain");
      const row = await t.db.vm.create({ data: { engineId: engine.id, vmId: simVm.id, name: simVm.name } });
      await recomputeVmTeams(t.db, { engineId: engine.id });
      return row;
    },
    async waitJob(jobId, states = ["succeeded", "failed", "cancelled"], timeoutMs = 120_000) {
      const job = await stack.waitFor(
        jobId,
        (j) => ["succeeded", "failed", "cancelled"].includes(j.state),
        timeoutMs,
      );
      if (!states.includes(job.state)) {
        const events = await t.db.jobEvent.findMany({ where: { jobId }, orderBy: { id: "asc" } });
        throw new Error(
          `job ${jobId} ended ${job.state}: ${job.error}\n${events.map((e) => `  ${e.level} ${e.step}: ${e.message}`).join("\n")}`,
        );
      }
      return job;
    },
    async waitFor(jobId, check, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const job = await t.db.job.findUniqueOrThrow({ where: { id: jobId } });
        if (await check(job)) return job;
        if (Date.now() > deadline)
          throw new Error(
            `job ${jobId} did not get there in ${timeoutMs} ms (state ${job.state}, phase ${job.phase})`,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async repository() {
      repo ??= await openRepository(repoDir, { create: true });
      return repo;
    },
    workerEnv(extra = {}) {
      return {
        ...process.env,
        DATABASE_URL: t.url,
        LIFEBOAT_ENCRYPTION_KEY: ENCRYPTION_KEY,
        LIFEBOAT_REPOSITORY_DIR: repoDir,
        LIFEBOAT_DATA_DIR: path.join(dir, "data"),
        NODE_ENV: "test",
        ...extra,
      };
    },
    async stop() {
      for (const w of workers) await w.stop().catch(() => undefined);
      await stopBosses();
      await sim.stop();
      await t.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** SHA-256 of a sim disk's guest view (its active chain), read in pieces. */
export async function guestHash(sim: Simulator, diskId: string): Promise<string> {
  const disk = sim.state.disk(diskId);
  if (!disk) throw new Error(`no disk ${diskId}`);
  const h = createHash("sha256");
  const piece = 8 * 1024 * 1024;
  for (let off = 0; off < disk.provisionedSize; off += piece)
    h.update(await sim.guest.read(diskId, off, Math.min(piece, disk.provisionedSize - off)));
  return h.digest("hex");
}

/** The guest hash of every disk of a sim VM, by disk alias. */
export async function vmGuestHashes(sim: Simulator, vmName: string): Promise<Map<string, string>> {
  const vm = sim.state.vm(vmName);
  if (!vm) throw new Error(`no VM ${vmName}`);
  const out = new Map<string, string>();
  for (const a of vm.attachments) {
    const d = sim.state.disk(a.diskId);
    if (d) out.set(a.diskId, await guestHash(sim, d.id));
  }
  return out;
}

/** The events of a job, oldest first. */
export async function eventsOf(stack: Stack, jobId: string) {
  return stack.t.db.jobEvent.findMany({ where: { jobId }, orderBy: { id: "asc" } });
}
