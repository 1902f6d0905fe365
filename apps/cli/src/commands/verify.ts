import type { Repository, VerifyReport } from "@lifeboat/repository";
import type { Command } from "commander";
import { type CliKit, UsageError } from "../cli-kit";

/** Bytes for people (binary units). */
export function bytesText(n: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[u]}`;
}

/**
 * Opens the repository at DIR (as typed by the user) with the key from LIFEBOAT_REPOSITORY_KEY when set;
 * `create`: makes one when the folder holds none (backup). Shared by the repository commands.
 */
export async function openCliRepository(
  kit: CliKit,
  dir: string,
  opts: { create?: boolean } = {},
): Promise<Repository> {
  const { parseKey32 } = await import("@lifeboat/config");
  const { openRepository } = await import("@lifeboat/repository");
  const raw = kit.env.repositoryKey;
  let key: Buffer | undefined;
  if (raw !== undefined) {
    try {
      key = parseKey32(raw, "LIFEBOAT_REPOSITORY_KEY");
    } catch (e) {
      throw new UsageError(e instanceof Error ? e.message : String(e));
    }
  }
  return openRepository(kit.path(dir), {
    key,
    ...(opts.create ? { create: true } : {}),
    onWarning: (m) => process.stderr.write(`lifeboat: warning: ${m}\n`),
  });
}

/** Throttled progress lines on stderr for long runs. */
export function progressPrinter(label: string, everyMs = 2000): (text: string) => void {
  let last = Date.now();
  return (text) => {
    const now = Date.now();
    if (now - last < everyMs) return;
    last = now;
    process.stderr.write(`${label}: ${text}\n`);
  };
}

function reportLines(r: VerifyReport): string[] {
  const scope = r.pointId === undefined ? "repository" : `restore point ${r.pointId}`;
  const c = r.checked;
  const lines = [
    `verified ${scope}: ${c.restorePoints} restore point(s), ${c.layers} layer(s), ${c.chunks} chunk(s), ${bytesText(c.bytes)} re-read and re-hashed: ${r.ok ? "OK" : "DAMAGED"}`,
  ];
  for (const b of r.badChunks) {
    lines.push(`bad chunk ${b.chunkId}: ${b.problem} (${b.detail})`);
    if (b.quarantined === true)
      lines.push("  moved to the quarantine: the next backup of this data stores it again");
    else if (b.quarantined) lines.push(`  not moved to the quarantine: ${b.quarantined.error}`);
    lines.push(`  layers: ${b.layers.join(", ") || "-"}`);
    lines.push(`  restore points: ${b.restorePoints.join(", ") || "-"}`);
  }
  for (const l of r.badLayers) {
    lines.push(`bad layer ${l.layerId}: ${l.problem} (${l.detail})`);
    lines.push(`  restore points: ${l.restorePoints.join(", ") || "-"}`);
  }
  for (const p of r.badRestorePoints) lines.push(`bad restore point ${p.id}: ${p.problem} (${p.detail})`);
  return lines;
}

export function register(program: Command, kit: CliKit): void {
  program
    .command("verify")
    .description("re-read and re-hash every chunk of a restore point (or of the whole repository)")
    .requiredOption("--repo <dir>", "repository folder")
    .option("--point <id>", "only this restore point")
    .option("--json", "print the report as JSON")
    .option("--no-quarantine", "only report corrupt chunks; do not move them aside")
    .action(
      kit.action(async (opts: { repo: string; point?: string; json?: boolean; quarantine: boolean }) => {
        const repo = await openCliRepository(kit, opts.repo);
        const progress = progressPrinter("verify");
        const report = await repo.verify({
          pointId: opts.point,
          quarantine: opts.quarantine,
          onProgress: (p) => progress(`${p.chunks}/${p.totalChunks} chunks, ${bytesText(p.bytes)}`),
        });
        process.stdout.write(
          opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${reportLines(report).join("\n")}\n`,
        );
        if (!report.ok) {
          const points = report.badRestorePoints.map((p) => p.id);
          throw new Error(
            `verify found ${report.badChunks.length} bad chunk(s) and ${report.badLayers.length} bad layer(s); restore points affected: ${points.join(", ") || "none"}`,
          );
        }
      }),
    );
}
