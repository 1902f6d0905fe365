import { Badge } from "@/components/ui/badge";

const TONES = { started: "green", skipped: "slate", missed: "red" } as const;

/** A policy run's state as a badge (started | skipped | missed). */
export function RunState({ state }: { state: string }) {
  return <Badge tone={TONES[state as keyof typeof TONES] ?? "slate"}>{state}</Badge>;
}
