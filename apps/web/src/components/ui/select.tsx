import type * as React from "react";
import { cn } from "@/lib/utils";

/** A native select: keyboard and screen-reader friendly everywhere, and usable on phones. */
export function Select({ className, ...props }: React.SelectHTMLAttributes<HTMLSelectElement>) {
  return (
    <select
      className={cn(
        "h-9 w-full rounded-md border border-slate-300 bg-white px-2 text-sm shadow-sm focus-visible:border-brand-500 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-brand-500/30 disabled:opacity-50",
        className,
      )}
      {...props}
    />
  );
}
