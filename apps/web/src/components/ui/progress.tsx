"use client";

import * as ProgressPrimitive from "@radix-ui/react-progress";
import { cn } from "@/lib/utils";

/** A progress bar (Radix: role="progressbar" with aria-valuenow); `value` null means "not known yet". */
export function Progress({
  value,
  label,
  className,
  tone = "brand",
}: {
  /** 0–100, or null while unknown. */
  value: number | null;
  /** Read by screen readers, e.g. "Backup of web01". */
  label: string;
  className?: string;
  tone?: "brand" | "green" | "red" | "slate";
}) {
  const v = value === null ? null : Math.max(0, Math.min(100, value));
  const bar = {
    brand: "bg-brand-600",
    green: "bg-green-600",
    red: "bg-red-600",
    slate: "bg-slate-400",
  }[tone];
  return (
    <ProgressPrimitive.Root
      value={v}
      max={100}
      aria-label={label}
      className={cn("relative h-2 w-full overflow-hidden rounded-full bg-slate-200", className)}
    >
      <ProgressPrimitive.Indicator
        className={cn(
          "h-full transition-[width] duration-500 ease-out",
          bar,
          v === null && "w-1/3 animate-pulse",
        )}
        style={v === null ? undefined : { width: `${v}%` }}
      />
    </ProgressPrimitive.Root>
  );
}
