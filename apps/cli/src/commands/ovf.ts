import { readFile, stat } from "node:fs/promises";
import type { Command } from "commander";
import type { CliKit } from "../cli-kit";

export function register(program: Command, kit: CliKit): void {
  const ovf = program.command("ovf").description("read engine OVF documents");

  ovf
    .command("info")
    .description(
      "what a restore reads from an OVF: VM, disks with volume chains (base → top), NICs, snapshots",
    )
    .argument("<file>", "OVF file (as the engine returns it in initialization.configuration.data)")
    .option("--json", "print JSON")
    .action(
      kit.action(async (file: string, opts: { json?: boolean }) => {
        const { MAX_OVF_BYTES, OvfError, parseOvf } = await import("@lifeboat/ovirt-core");
        const p = kit.path(file);
        if ((await stat(p)).size > MAX_OVF_BYTES)
          throw new OvfError(`${file} is larger than ${MAX_OVF_BYTES} bytes`);
        const info = parseOvf(await readFile(p));
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
          return;
        }
        const { vm } = info;
        const lines = [
          `VM ${vm.name} (${vm.id}), OS ${vm.os ?? "unknown"}`,
          `  memory ${vm.memoryMiB ?? "?"} MiB, ${vm.cpu ? `${vm.cpu.sockets} socket(s) × ${vm.cpu.coresPerSocket} core(s) × ${vm.cpu.threadsPerCore} thread(s)` : "CPU unknown"}, cluster ${vm.clusterName ?? "?"}`,
        ];
        for (const d of info.disks) {
          lines.push(
            `disk ${d.alias ?? "(no alias)"} ${d.diskId} ${d.storageType} ${d.interface}${d.boot ? " boot" : ""}${d.readOnly ? " read-only" : ""}`,
          );
          for (const v of d.volumes)
            lines.push(
              `  volume ${v.imageId} ${v.format ?? "?"} parent ${v.parentId ?? "-"} snapshot ${v.snapshotId ?? "-"}`,
            );
          if (d.lunId) lines.push(`  lun ${d.lunId}`);
        }
        for (const n of info.nics)
          lines.push(`nic ${n.name} network ${n.network || "-"} mac ${n.mac ?? "-"} ${n.model}`);
        for (const s of info.snapshots)
          lines.push(`snapshot ${s.id} ${s.type} ${s.date ?? "?"} ${s.description}`);
        process.stdout.write(`${lines.join("\n")}\n`);
      }),
    );
}
