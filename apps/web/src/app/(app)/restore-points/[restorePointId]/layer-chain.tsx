import { ArrowRight } from "lucide-react";
import { Badge } from "@/components/ui/badge";
import { formatBytes } from "@/lib/format";

interface LayerView {
  position: number;
  imageId: string;
  format: string;
  virtualSize: number;
  size: number;
  reused: boolean;
}

/**
 * A disk's chain drawn base → top: one box per volume with its size and format, marked "reused" when this
 * backup took it over unchanged from an earlier restore point, "new" when it was copied this time.
 */
export function LayerChain({ alias, layers }: { alias: string; layers: LayerView[] }) {
  const total = layers.reduce((s, l) => s + l.size, 0);
  const fresh = layers.filter((l) => !l.reused).reduce((s, l) => s + l.size, 0);
  return (
    <div className="space-y-2">
      <ol
        className="flex flex-wrap items-stretch gap-y-2"
        aria-label={`Layer chain of ${alias}, base first: ${layers.length} layers`}
        data-testid="layer-chain"
      >
        {layers.map((l, i) => (
          <li key={l.imageId} className="flex items-center">
            <div
              className={
                l.reused
                  ? "w-40 rounded-md border border-slate-200 bg-slate-50 px-3 py-2"
                  : "w-40 rounded-md border border-brand-500/40 bg-brand-50 px-3 py-2"
              }
            >
              <div className="flex items-center justify-between gap-2">
                <span className="text-xs font-semibold text-slate-700">
                  {i === 0 ? "Base" : i === layers.length - 1 ? "Top" : `Layer ${i + 1}`}
                </span>
                <Badge tone={l.reused ? "slate" : "blue"}>{l.reused ? "reused" : "new"}</Badge>
              </div>
              <p className="mt-1 text-sm font-medium tabular-nums">{formatBytes(l.size)}</p>
              <p className="text-xs text-slate-500">
                {l.format} · {formatBytes(l.virtualSize)} virtual
              </p>
              <p className="truncate font-mono text-[10px] text-slate-400" title={l.imageId}>
                {l.imageId}
              </p>
            </div>
            {i < layers.length - 1 ? (
              <ArrowRight className="mx-1 h-4 w-4 shrink-0 text-slate-400" aria-hidden="true" />
            ) : null}
          </li>
        ))}
      </ol>
      <p className="text-xs text-slate-500">
        {formatBytes(total)} in {layers.length} {layers.length === 1 ? "layer" : "layers"};{" "}
        {formatBytes(fresh)} copied by this backup.
      </p>
    </div>
  );
}
