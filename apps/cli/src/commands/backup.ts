import { randomUUID } from "node:crypto";
import type { EngineClient, FlowEvent, FlowHooks, FlowProgress } from "@lifeboat/ovirt-core";
import type { Command } from "commander";
import { type CliKit, caFileOption, intOption, UsageError } from "../cli-kit";
import { bytesText, openCliRepository } from "./verify";

/** The flags of the commands that talk to an engine. */
export interface EngineFlags {
  engine: string;
  user: string;
  password?: string;
  cafile?: string;
  insecure?: boolean;
  workers?: number;
}

/** Adds the engine connection flags to a command. */
export function withEngineOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--engine <url>", "engine API URL, e.g. https://engine.example.com/ovirt-engine/api")
    .requiredOption("--user <user>", "engine user, e.g. admin@internal")
    .option("--password <password>", "engine password (default: $LIFEBOAT_ENGINE_PASSWORD)")
    .option("--cafile <file>", "engine CA certificate (PEM), trusted for the engine and imageio")
    .option("--insecure", "do not verify TLS certificates (labs only)")
    .option("--workers <n>", "imageio data connections per transfer", intOption("--workers", 1, 16));
}

/** Connects to the engine (credentials from the flags or the environment); usage errors for bad flags. */
export async function connectEngine(
  kit: CliKit,
  flags: EngineFlags,
): Promise<{ engine: EngineClient; imageio: { caPem?: string; insecure?: boolean; workers?: number } }> {
  const caPem = caFileOption(kit, flags);
  const password = flags.password ?? kit.env.enginePassword;
  if (!password)
    throw new UsageError("the engine password is missing: --password or LIFEBOAT_ENGINE_PASSWORD");
  const { EngineClient } = await import("@lifeboat/ovirt-core");
  let engine: EngineClient;
  try {
    engine = new EngineClient({
      url: flags.engine,
      username: flags.user,
      password,
      caPem,
      insecure: flags.insecure,
      logger: (line) => process.stderr.write(`engine: ${line}\n`),
    });
  } catch (e) {
    throw new UsageError(`--engine ${flags.engine}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { engine, imageio: { caPem, insecure: flags.insecure, workers: flags.workers } };
}

/** Progress and events of a flow on stderr (progress at most every 2 s), Ctrl-C aborting it. */
export function cliHooks(label: string): FlowHooks & { dispose(): void } {
  const ac = new AbortController();
  const onSignal = () => ac.abort(new Error("interrupted"));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let last = 0;
  return {
    signal: ac.signal,
    onProgress(p: FlowProgress) {
      const now = Date.now();
      if (now - last < 2000 && p.bytesDone < p.bytesTotal) return;
      last = now;
      const pct = p.bytesTotal > 0 ? ` ${((100 * p.bytesDone) / p.bytesTotal).toFixed(1)}%` : "";
      process.stderr.write(
        `${label}: ${p.phase}${pct} ${bytesText(p.bytesDone)} of ${bytesText(p.bytesTotal)}, ${bytesText(p.rate)}/s\n`,
      );
    },
    onEvent(e: FlowEvent) {
      // The failure itself ends the command as its one-line message; what cleanup left behind is printed.
      if (e.level === "error" && e.step !== "cleanup") return;
      process.stderr.write(`${label}: ${e.level === "info" ? "" : `${e.level}: `}${e.message}\n`);
    },
    dispose() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/** What a backup did, for its summary: one line on stderr, the leftovers, the result on stdout. */
interface BackupSummary {
  /** The stderr line after `backup: <vm>: `. */
  text: string;
  leftovers: ReadonlyArray<{ kind: string; id: string; description: string; error: string }>;
  restorePointId: string;
  mode: string;
  checkpointId: string | null;
  transferredBytes: number;
  disks: Array<{
    diskId: string;
    alias: string;
    mode: string;
    transferredBytes: number | null;
    changedBytes?: number;
    checkpointId: string | null;
  }>;
}

/** Prints a backup's summary: stderr for people; stdout the restore point id, or with --json the result. */
function printBackupSummary(vmName: string, json: boolean | undefined, s: BackupSummary): void {
  process.stderr.write(`backup: ${vmName}: ${s.text}\n`);
  for (const l of s.leftovers)
    process.stderr.write(
      `backup: warning: left on the engine: ${l.kind} ${l.id} (${l.description}): ${l.error}\n`,
    );
  const { text: _text, leftovers: _leftovers, ...result } = s;
  process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${s.restorePointId}\n`);
}

export function register(program: Command, kit: CliKit): void {
  withEngineOptions(program.command("backup"))
    .description("back up a VM (OVF and disk snapshot chains) into a repository; prints the restore point id")
    .requiredOption("--vm <name>", "the VM to back up")
    .requiredOption("--repo <dir>", "repository folder (created when missing)")
    .option("--keep-snapshot", "keep the temporary snapshot (default: remove it, merging it back)")
    .option("--description <text>", "description of the restore point")
    .option("--tag <tag...>", "tags of the restore point")
    .option(
      "--mode <mode>",
      "auto (the backup API where the engine offers incremental backups, else snapshot-chain), full, incremental or snapshot-chain",
      "auto",
    )
    .option(
      "--json",
      "print the result as JSON on the last line (restorePointId, mode, per disk mode, bytes, checkpoint)",
    )
    .action(
      kit.action(
        async (
          flags: EngineFlags & {
            vm: string;
            repo: string;
            keepSnapshot?: boolean;
            description?: string;
            tag?: string[];
            mode: string;
            json?: boolean;
          },
        ) => {
          if (!["auto", "full", "incremental", "snapshot-chain"].includes(flags.mode))
            throw new UsageError(
              `--mode must be auto, full, incremental or snapshot-chain, not "${flags.mode}"`,
            );
          const { engine, imageio } = await connectEngine(kit, flags);
          const hooks = cliHooks("backup");
          try {
            const repository = await openCliRepository(kit, flags.repo, { create: true });
            const vm = await engine.vms.findByName(flags.vm, { signal: hooks.signal });
            if (!vm) throw new Error(`no VM named "${flags.vm}" on ${engine.baseUrl}`);
            const { backupCapability, backupVm, backupVmWithBackupApi, previousBackupPoint, storedLayers } =
              await import("@lifeboat/ovirt-core");
            const restorePointId = randomUUID();
            // What both flows take.
            const common = {
              ...hooks,
              engine,
              imageio,
              vmId: vm.id,
              repository,
              restorePointId,
              description: flags.description,
              tags: flags.tag,
              jobRef: `cli ${restorePointId.slice(0, 8)}`,
            };
            let method = flags.mode === "snapshot-chain" ? "snapshot-chain" : "backup-api";
            if (flags.mode === "auto" && flags.keepSnapshot) {
              // Only the snapshot chain has a temporary snapshot to keep.
              method = "snapshot-chain";
            } else if (flags.mode === "auto") {
              const capability = await backupCapability(engine, vm.id, { signal: hooks.signal });
              method = capability.method;
              process.stderr.write(`backup: ${vm.name}: ${capability.reason}\n`);
            }
            if (method === "backup-api") {
              // An incremental starts from the newest point of this VM in the repository that has a checkpoint.
              const previous =
                flags.mode === "full" ? undefined : await previousBackupPoint(repository, vm.id);
              if (flags.mode === "incremental" && !previous)
                throw new Error(
                  `no earlier backup-API restore point of ${vm.name} in ${flags.repo}: take a full one first`,
                );
              const r = await backupVmWithBackupApi({ ...common, previous });
              printBackupSummary(vm.name, flags.json, {
                text: `${r.mode} backup of ${r.disks.length} disk(s) (${r.disks.map((d) => `${d.alias} ${d.mode}`).join(", ")}), ${bytesText(r.transferredBytes)} transferred, repository grew by ${bytesText(r.newStoredBytes)}`,
                leftovers: r.leftovers,
                restorePointId: r.restorePoint.id,
                mode: r.mode,
                checkpointId: r.checkpointId ?? null,
                transferredBytes: r.transferredBytes,
                disks: r.disks.map((d) => ({
                  diskId: d.diskId,
                  alias: d.alias,
                  mode: d.mode,
                  transferredBytes: d.transferredBytes,
                  changedBytes: d.changedBytes,
                  checkpointId: r.checkpointId ?? null,
                })),
              });
              return;
            }
            const result = await backupVm({
              ...common,
              knownLayer: storedLayers(repository, vm.id),
              keepSnapshot: flags.keepSnapshot,
            });
            const layers = result.disks.flatMap((d) => d.layers);
            printBackupSummary(vm.name, flags.json, {
              text: `${result.disks.length} disk(s), ${layers.length} layer(s) (${layers.filter((l) => l.reused).length} unchanged), ${bytesText(result.transferredBytes)} transferred, repository grew by ${bytesText(result.newStoredBytes)}`,
              leftovers: result.leftovers,
              restorePointId: result.restorePoint.id,
              mode: "snapshot-chain",
              checkpointId: null,
              transferredBytes: result.transferredBytes,
              disks: result.disks.map((d) => ({
                diskId: d.diskId,
                alias: d.alias,
                mode: "snapshot-chain",
                transferredBytes: null,
                checkpointId: null,
              })),
            });
          } finally {
            hooks.dispose();
            await engine.close();
          }
        },
      ),
    );
}
