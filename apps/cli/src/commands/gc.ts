import type { GcReport } from "@lifeboat/repository";
import type { Command } from "commander";
import { type CliKit, intOption } from "../cli-kit";
import { bytesText, openCliRepository, progressPrinter } from "./verify";

function reportLines(r: GcReport): string[] {
  const verb = r.dryRun ? "would delete" : "deleted";
  const lines = [
    `gc${r.dryRun ? " (dry run, nothing changed)" : ""}: ${verb} ${r.deletedChunks} chunk(s) and ${r.deletedLayers} orphan layer manifest(s), ${r.dryRun ? "would free" : "freed"} ${bytesText(r.freedBytes)}`,
    `kept ${r.remainingChunks} chunk(s) (${bytesText(r.remainingBytes)}) for ${r.restorePoints} restore point(s) and ${r.liveLayers} layer(s); cutoff ${r.cutoff}, ${r.activeSessions} active writer session(s)`,
  ];
  if (r.incompleteRemoved > 0)
    lines.push(`removed ${r.incompleteRemoved} leftover temp file(s) of interrupted writes`);
  if (r.staleSessions > 0)
    lines.push(`${r.staleSessions} stale writer session(s) ignored${r.dryRun ? "" : " and removed"}`);
  if (r.missingChunks > 0 || r.missingLayers.length > 0)
    lines.push(
      `warning: ${r.missingChunks} referenced chunk(s) and ${r.missingLayers.length} referenced layer(s) are missing; run lifeboat verify`,
    );
  return lines;
}

export function register(program: Command, kit: CliKit): void {
  program
    .command("gc")
    .description("delete chunks and layer manifests that no restore point references")
    .requiredOption("--repo <dir>", "repository folder")
    .option(
      "--grace-minutes <n>",
      "keep unreferenced data written or used within the last N minutes",
      intOption("--grace-minutes", 0),
      60,
    )
    .option("--dry-run", "report what would be deleted; delete nothing")
    .option("--json", "print the report as JSON")
    .action(
      kit.action(async (opts: { repo: string; graceMinutes: number; dryRun?: boolean; json?: boolean }) => {
        const repo = await openCliRepository(kit, opts.repo);
        const progress = progressPrinter("gc");
        const report = await repo.gc({
          graceMs: opts.graceMinutes * 60_000,
          dryRun: opts.dryRun ?? false,
          onProgress: (phase, done) => progress(`${phase} ${done}`),
        });
        process.stdout.write(
          opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${reportLines(report).join("\n")}\n`,
        );
      }),
    );
}
