"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { toast } from "sonner";
import { useMe } from "@/components/shell/use-me";
import { Button } from "@/components/ui/button";
import { useTRPC } from "@/trpc/react";

/** Cancels a queued or running job (a running one stops within a second and cleans the engine up). */
export function CancelJobButton({
  job,
  size = "sm",
}: {
  job: { id: string; state: string; teamId: string | null; cancelRequested: boolean };
  size?: "sm" | "md";
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { can } = useMe();
  const cancel = useMutation(
    trpc.jobs.cancel.mutationOptions({
      onSuccess: (j) => {
        toast.success(
          j.state === "cancelled" ? "Job cancelled" : "Cancelling: the engine is being cleaned up",
        );
        void queryClient.invalidateQueries({ queryKey: trpc.jobs.pathKey() });
        void queryClient.invalidateQueries({ queryKey: trpc.vms.pathKey() });
      },
      onError: (e) => toast.error(e.message),
    }),
  );
  const active = job.state === "queued" || job.state === "running";
  if (!active || !can("job:cancel", job.teamId ?? undefined)) return null;
  return (
    <Button
      type="button"
      size={size}
      variant="secondary"
      disabled={cancel.isPending || job.cancelRequested}
      onClick={() => cancel.mutate({ id: job.id })}
    >
      {job.cancelRequested ? "Cancelling…" : "Cancel"}
    </Button>
  );
}
