"use client";

import { Cell, Pie, PieChart, ResponsiveContainer, Tooltip } from "recharts";

/** Protected vs unprotected VMs as a ring. */
export function ProtectionChart({
  protectedCount,
  unprotectedCount,
}: {
  protectedCount: number;
  unprotectedCount: number;
}) {
  const data = [
    { name: "Protected", value: protectedCount, color: "#16a34a" },
    { name: "Unprotected", value: unprotectedCount, color: "#f59e0b" },
  ];
  const total = protectedCount + unprotectedCount;
  return (
    <figure className="relative h-36 w-36 shrink-0">
      <figcaption className="sr-only">
        {protectedCount} of {total} VMs protected
      </figcaption>
      <ResponsiveContainer width="100%" height="100%">
        <PieChart>
          <Pie
            data={total === 0 ? [{ name: "None", value: 1, color: "#e2e8f0" }] : data}
            dataKey="value"
            innerRadius="62%"
            outerRadius="100%"
            startAngle={90}
            endAngle={-270}
            isAnimationActive={false}
            stroke="none"
          >
            {(total === 0 ? [{ name: "None", color: "#e2e8f0" }] : data).map((d) => (
              <Cell key={d.name} fill={d.color} />
            ))}
          </Pie>
          {total > 0 ? <Tooltip /> : null}
        </PieChart>
      </ResponsiveContainer>
      <div
        className="pointer-events-none absolute inset-0 flex flex-col items-center justify-center"
        aria-hidden="true"
      >
        <span className="text-2xl font-semibold">
          {total === 0 ? "–" : `${Math.round((protectedCount / total) * 100)}%`}
        </span>
        <span className="text-[11px] text-slate-500">protected</span>
      </div>
    </figure>
  );
}
