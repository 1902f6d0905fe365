"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Pin, PinOff } from "lucide-react";
import { toast } from "sonner";
import { useMe } from "@/components/shell/use-me";
import { Button } from "@/components/ui/button";
import { useTRPC } from "@/trpc/react";

/**
 * Pin / unpin one restore point (pinned points are never pruned). Place it wherever restore points are listed:
 * `<PinButton restorePointId={rp.id} pinned={rp.pinned} teamId={teamIdIfKnown} onChanged={refetch} />`.
 * Operators pin; only team admins unpin (an unpinned point may be pruned). The API has the last word.
 */
export function PinButton({
  restorePointId,
  pinned,
  teamId,
  onChanged,
}: {
  restorePointId: string;
  pinned: boolean;
  teamId?: string;
  onChanged?: (pinned: boolean) => void;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { can } = useMe();
  const done = (now: boolean) => {
    toast.success(now ? "Pinned: retention will keep it" : "Unpinned: retention applies again");
    void queryClient.invalidateQueries({ queryKey: trpc.policies.pathKey() });
    onChanged?.(now);
  };
  const onError = (e: { message: string }) => toast.error(e.message);
  const pin = useMutation(trpc.policies.pin.mutationOptions({ onSuccess: () => done(true), onError }));
  const unpin = useMutation(trpc.policies.unpin.mutationOptions({ onSuccess: () => done(false), onError }));
  const allowed = pinned ? can("policy:manage", teamId) : can("backup:create", teamId);
  if (!allowed)
    return pinned ? (
      <span className="inline-flex items-center gap-1 text-xs text-slate-600">
        <Pin className="h-3 w-3" aria-hidden="true" /> pinned
      </span>
    ) : null;
  const busy = pin.isPending || unpin.isPending;
  return (
    <Button
      type="button"
      size="sm"
      variant={pinned ? "secondary" : "ghost"}
      disabled={busy}
      aria-pressed={pinned}
      onClick={() => (pinned ? unpin.mutate({ restorePointId }) : pin.mutate({ restorePointId }))}
    >
      {pinned ? (
        <PinOff className="h-3.5 w-3.5" aria-hidden="true" />
      ) : (
        <Pin className="h-3.5 w-3.5" aria-hidden="true" />
      )}
      {pinned ? "Unpin" : "Pin"}
    </Button>
  );
}
