import type { Command } from "commander";
import type { CliKit } from "../cli-kit";

export function register(program: Command, kit: CliKit): void {
  program
    .command("chain")
    .description("order the layer files of one disk base → top by their backing names")
    .argument("<dir>", "folder holding the layer files (qcow2 volumes, optionally a raw base)")
    .option("--json", "print a JSON array of file names, base first")
    .action(
      kit.action(async (dir: string, opts: { json?: boolean }) => {
        const { composeChainFromFolder } = await import("@lifeboat/disk-image");
        const layers = await composeChainFromFolder(kit.path(dir));
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(layers.map((l) => l.name))}\n`);
          return;
        }
        const lines = layers.map((l, i) => {
          const role = i === 0 ? "base" : `backing ${l.backingName}`;
          return `${l.name}\t${l.format}\t${l.virtualSize}\t${role}`;
        });
        process.stdout.write(`${lines.join("\n")}\n`);
      }),
    );
}
