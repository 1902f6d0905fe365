"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { toast } from "sonner";
import { useMe } from "@/components/shell/use-me";
import { Button } from "@/components/ui/button";
import { Dialog } from "@/components/ui/dialog";
import { ErrorNote } from "@/components/ui/error-note";
import { Label } from "@/components/ui/label";
import { Textarea } from "@/components/ui/textarea";
import { useTRPC } from "@/trpc/react";

/**
 * Ask for one restore point to be deleted by hand (another approver of the team approves; a pinned point must
 * be unpinned first). Place it wherever restore points are listed:
 * `<DeletePointButton restorePointId={rp.id} label={`${rp.vmName}, ${date}`} pinned={rp.pinned} />`.
 */
export function DeletePointButton({
  restorePointId,
  label,
  pinned,
  teamId,
}: {
  restorePointId: string;
  label: string;
  pinned: boolean;
  teamId?: string;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { can } = useMe();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  const request = useMutation(
    trpc.policies.requestPointDeletion.mutationOptions({
      onSuccess: () => {
        toast.success("Deletion sent for approval");
        void queryClient.invalidateQueries({ queryKey: trpc.approvals.pathKey() });
        setOpen(false);
        setReason("");
      },
    }),
  );
  if (!can("backup:create", teamId) || pinned) return null;
  return (
    <>
      <Button type="button" size="sm" variant="ghost" onClick={() => setOpen(true)}>
        Delete…
      </Button>
      <Dialog
        open={open}
        onOpenChange={setOpen}
        title="Delete restore point"
        description={`${label}. Another approver of the team must approve; then it is deleted and its space reclaimed at the next garbage collection.`}
      >
        <form
          className="space-y-4"
          onSubmit={(e) => {
            e.preventDefault();
            request.mutate({ restorePointId, reason, teamId });
          }}
        >
          <div className="space-y-1.5">
            <Label htmlFor={`delete-reason-${restorePointId}`}>Why (the approver reads this)</Label>
            <Textarea
              id={`delete-reason-${restorePointId}`}
              value={reason}
              onChange={(e) => setReason(e.target.value)}
              required
            />
          </div>
          <ErrorNote error={request.error} />
          <Button type="submit" variant="danger" disabled={request.isPending}>
            Ask for approval
          </Button>
        </form>
      </Dialog>
    </>
  );
}
