import type { Command } from "commander";
import { type CliKit, UsageError } from "../cli-kit";
import { cliHooks, connectEngine, type EngineFlags, withEngineOptions } from "./backup";
import { openCliRepository } from "./verify";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID names an entity by id, anything else by name. */
function ref(v: string | undefined): { id: string } | { name: string } | undefined {
  if (v === undefined) return undefined;
  return UUID.test(v) ? { id: v } : { name: v };
}

export function register(program: Command, kit: CliKit): void {
  withEngineOptions(program.command("restore"))
    .description("restore a restore point as a new VM; prints the new VM's id")
    .requiredOption("--repo <dir>", "repository folder")
    .requiredOption("--point <id>", "restore point id")
    .requiredOption("--name <name>", "name of the new VM")
    .option(
      "--storage-domain <sd>",
      "target storage domain, by name or id (default: the original's, if it exists)",
    )
    .option("--cluster <c>", "target cluster, by name or id (default: the original's, if it exists)")
    .option(
      "--identity <mode>",
      "auto: new ids when the original VM or one of its disks still exists; new; original",
      "auto",
    )
    .option("--no-verify", "skip re-reading the restore point's chunks before touching the engine")
    .action(
      kit.action(
        async (
          flags: EngineFlags & {
            repo: string;
            point: string;
            name: string;
            storageDomain?: string;
            cluster?: string;
            identity: string;
            verify: boolean;
          },
        ) => {
          if (!["auto", "new", "original"].includes(flags.identity))
            throw new UsageError("--identity must be auto, new or original");
          if (flags.name.trim() === "") throw new UsageError("--name must not be empty");
          const repository = await openCliRepository(kit, flags.repo);
          const restorePoint = await repository.readRestorePoint(flags.point);
          const { engine, imageio } = await connectEngine(kit, flags);
          const hooks = cliHooks("restore");
          try {
            const { restoreVm } = await import("@lifeboat/ovirt-core");
            const result = await restoreVm({
              ...hooks,
              engine,
              imageio,
              repository,
              restorePoint,
              verify: flags.verify,
              jobRef: `cli restore ${flags.point.slice(0, 8)}`,
              target: {
                name: flags.name,
                cluster: ref(flags.cluster),
                storageDomain: ref(flags.storageDomain),
                identity: flags.identity as "auto" | "new" | "original",
              },
            });
            process.stdout.write(`${result.vmId}\n`);
          } finally {
            hooks.dispose();
            await engine.close();
          }
        },
      ),
    );
}
