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
              const r = await backupVmWithBackupApi({
                ...hooks,
                engine,
                imageio,
                vmId: vm.id,
                repository,
                restorePointId,
                previous,
                description: flags.description,
                tags: flags.tag,
                jobRef: `cli ${restorePointId.slice(0, 8)}`,
              });
              process.stderr.write(
                `backup: ${vm.name}: ${r.mode} backup of ${r.disks.length} disk(s) (${r.disks.map((d) => `${d.alias} ${d.mode}`).join(", ")}), ${bytesText(r.transferredBytes)} transferred, repository grew by ${bytesText(r.newStoredBytes)}\n`,
              );
              for (const l of r.leftovers)
                process.stderr.write(
                  `backup: warning: left on the engine: ${l.kind} ${l.id} (${l.description}): ${l.error}\n`,
                );
              process.stdout.write(
                flags.json
                  ? `${JSON.stringify({
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
                    })}\n`
                  : `${r.restorePoint.id}\n`,
              );
              return;
            }
            const result = await backupVm({
              ...hooks,
              engine,
              imageio,
              vmId: vm.id,
              repository,
              restorePointId,
              knownLayer: storedLayers(repository, vm.id),
              keepSnapshot: flags.keepSnapshot,
              description: flags.description,
              tags: flags.tag,
              jobRef: `cli ${restorePointId.slice(0, 8)}`,
            });
            const layers = result.disks.flatMap((d) => d.layers);
            process.stderr.write(
              `backup: ${vm.name}: ${result.disks.length} disk(s), ${layers.length} layer(s) (${layers.filter((l) => l.reused).length} unchanged), ${bytesText(result.transferredBytes)} transferred, repository grew by ${bytesText(result.newStoredBytes)}\n`,
            );
            for (const l of result.leftovers)
              process.stderr.write(
                `backup: warning: left on the engine: ${l.kind} ${l.id} (${l.description}): ${l.error}\n`,
              );
            process.stdout.write(
              flags.json
                ? `${JSON.stringify({
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
                  })}\n`
                : `${result.restorePoint.id}\n`,
            );
          } finally {
            hooks.dispose();
            await engine.close();
          }
        },
      ),
    );
}
