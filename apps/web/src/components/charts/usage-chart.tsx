"use client";

import { Area, AreaChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { formatBytes, formatDateTime } from "@/lib/format";

/** Repository size over time: what is stored (after dedup and compression) against what was backed up. */
export function UsageChart({
  samples,
  height = 192,
}: {
  samples: Array<{ at: Date; storedBytes: number; logicalBytes: number }>;
  height?: number;
}) {
  const data = samples.map((s) => ({
    t: new Date(s.at).getTime(),
    stored: s.storedBytes,
    logical: s.logicalBytes,
  }));
  const last = samples[samples.length - 1];
  return (
    <figure className="w-full" style={{ height }} data-testid="usage-chart">
      <figcaption className="sr-only">
        Repository usage over time
        {last
          ? `: now ${formatBytes(last.storedBytes)} stored for ${formatBytes(last.logicalBytes)} backed up`
          : ""}
      </figcaption>
      <ResponsiveContainer width="100%" height="100%">
        <AreaChart data={data} margin={{ top: 8, right: 8, bottom: 0, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
          <XAxis
            dataKey="t"
            type="number"
            scale="time"
            domain={["dataMin", "dataMax"]}
            tickFormatter={(t: number) =>
              new Date(t).toLocaleDateString(undefined, { month: "short", day: "numeric" })
            }
            tick={{ fontSize: 11, fill: "#64748b" }}
          />
          <YAxis
            tickFormatter={(v: number) => formatBytes(v)}
            tick={{ fontSize: 11, fill: "#64748b" }}
            width={72}
          />
          <Tooltip
            labelFormatter={(t) => formatDateTime(new Date(Number(t)))}
            formatter={(v, name) => [formatBytes(Number(v)), name === "stored" ? "Stored" : "Backed up"]}
          />
          <Legend
            formatter={(v) => (v === "stored" ? "Stored (deduplicated, compressed)" : "Backed up (logical)")}
          />
          <Area type="monotone" dataKey="logical" stroke="#94a3b8" fill="#e2e8f0" isAnimationActive={false} />
          <Area type="monotone" dataKey="stored" stroke="#1f57d6" fill="#d9eaff" isAnimationActive={false} />
        </AreaChart>
      </ResponsiveContainer>
    </figure>
  );
}
