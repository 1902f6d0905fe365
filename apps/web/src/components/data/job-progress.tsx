import { Progress } from "@/components/ui/progress";
import { formatBytes, formatDuration, formatRate } from "@/lib/format";
import { cn } from "@/lib/utils";

export interface JobProgressFacts {
  state: string;
  phase: string | null;
  bytesDone: number;
  bytesTotal: number;
  rate: number | null;
  cancelRequested?: boolean;
}

/** Percent done (100 for a finished success; null while the size is not known yet). */
export function jobPercent(j: JobProgressFacts): number | null {
  if (j.state === "succeeded") return 100;
  if (j.bytesTotal <= 0) return null;
  return Math.min(100, (j.bytesDone / j.bytesTotal) * 100);
}

/** Seconds left at the current rate, or null. */
export function jobEta(j: JobProgressFacts): number | null {
  if (j.state !== "running" || !j.rate || j.rate <= 0 || j.bytesTotal <= 0) return null;
  return Math.max(0, (j.bytesTotal - j.bytesDone) / j.rate);
}

/** A job's progress: bar, percent, bytes, rate, time left and the step in words. */
export function JobProgress({
  job,
  label,
  compact = false,
}: {
  job: JobProgressFacts;
  label: string;
  compact?: boolean;
}) {
  const pct = jobPercent(job);
  const eta = jobEta(job);
  const active = job.state === "running" || job.state === "queued";
  const tone =
    job.state === "failed" ? "red" : job.state === "succeeded" ? "green" : active ? "brand" : "slate";
  const pctText = pct === null ? (job.state === "queued" ? "waiting" : "—") : `${Math.floor(pct)} %`;
  return (
    <div className={cn("min-w-40 space-y-1", compact && "max-w-64")}>
      <div className="flex items-center gap-2">
        <Progress value={job.state === "queued" ? 0 : pct} label={label} tone={tone} />
        <span className="w-12 shrink-0 text-right text-xs font-medium tabular-nums" data-testid="job-percent">
          {pctText}
        </span>
      </div>
      <p className="text-xs text-slate-500" aria-live={compact ? undefined : "polite"}>
        {job.bytesTotal > 0 ? (
          <span className="tabular-nums">
            {formatBytes(job.bytesDone)} of {formatBytes(job.bytesTotal)}
          </span>
        ) : null}
        {job.state === "running" && job.rate ? <span> · {formatRate(job.rate)}</span> : null}
        {eta !== null ? <span> · about {formatDuration(eta)} left</span> : null}
        {active && job.phase ? (
          <span className={cn(!compact && "block text-slate-600")}>
            {compact ? " · " : ""}
            {job.cancelRequested ? "cancelling…" : job.phase}
          </span>
        ) : null}
      </p>
    </div>
  );
}
