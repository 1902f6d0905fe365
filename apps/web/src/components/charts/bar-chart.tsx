"use client";

import { Bar, BarChart, CartesianGrid, Cell, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";

/** A small bar chart of labelled counts (jobs by outcome, backups per day), with a text twin for screen readers. */
export function CountBarChart({
  data,
  label,
  height = 160,
  format = (v) => String(v),
}: {
  data: Array<{ name: string; value: number; color?: string }>;
  label: string;
  height?: number;
  format?: (v: number) => string;
}) {
  return (
    <figure className="w-full" style={{ height }}>
      <figcaption className="sr-only">
        {label}: {data.map((d) => `${d.name} ${format(d.value)}`).join(", ")}
      </figcaption>
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={data} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" vertical={false} />
          <XAxis
            dataKey="name"
            tick={{ fontSize: 11, fill: "#64748b" }}
            interval={data.length <= 8 ? 0 : "preserveStartEnd"}
          />
          <YAxis
            allowDecimals={false}
            tick={{ fontSize: 11, fill: "#64748b" }}
            width={40}
            tickFormatter={format}
          />
          <Tooltip formatter={(v) => format(Number(v))} />
          <Bar dataKey="value" isAnimationActive={false} radius={[3, 3, 0, 0]}>
            {data.map((d) => (
              <Cell key={d.name} fill={d.color ?? "#1f57d6"} />
            ))}
          </Bar>
        </BarChart>
      </ResponsiveContainer>
    </figure>
  );
}
