"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { toast } from "sonner";
import { Button } from "@/components/ui/button";
import { Dialog } from "@/components/ui/dialog";
import { ErrorNote } from "@/components/ui/error-note";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Select } from "@/components/ui/select";
import { guestDuringBackup } from "@/lib/vm-status";
import { useTRPC } from "@/trpc/react";

export interface BackupDialogVm {
  id: string;
  name: string;
  engineName: string;
  /** The engine's VM status from the inventory ("up", "down", …), when known. */
  status?: string | null;
}

type BackupMode = "auto" | "full" | "snapshot-chain";

const MODE_HINTS: Record<BackupMode, string> = {
  auto: "Incremental through the engine's backup API where the engine and the disks allow it (a full one when there is no earlier checkpoint), else a snapshot chain.",
  full: "A full backup through the engine's backup API: every disk is read whole; later incrementals start from it.",
  "snapshot-chain":
    "A snapshot is taken and every disk's chain is copied; unchanged layers of earlier backups are reused.",
};

/** "Back up now" for one VM: an optional description and tags, then the job is queued and can be followed. */
export function BackupDialog({
  vm,
  open,
  onOpenChange,
}: {
  vm: BackupDialogVm;
  open: boolean;
  onOpenChange: (open: boolean) => void;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [description, setDescription] = useState("");
  const [tags, setTags] = useState("");
  const [keepSnapshot, setKeepSnapshot] = useState(false);
  const [mode, setMode] = useState<BackupMode>("auto");
  const start = useMutation(
    trpc.backups.start.mutationOptions({
      onSuccess: ({ jobId }) => {
        onOpenChange(false);
        setDescription("");
        setTags("");
        void queryClient.invalidateQueries({ queryKey: trpc.vms.pathKey() });
        void queryClient.invalidateQueries({ queryKey: trpc.jobs.pathKey() });
        toast.success(`Backup of ${vm.name} queued`, {
          description: <Link href={`/jobs/${jobId}`}>Follow its progress</Link>,
          action: { label: "Follow", onClick: () => window.location.assign(`/jobs/${jobId}`) },
        });
      },
    }),
  );
  const tagList = tags
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  return (
    <Dialog
      open={open}
      onOpenChange={onOpenChange}
      title={`Back up ${vm.name}`}
      description={`Every disk of the VM on ${vm.engineName} is copied into the repository. ${guestDuringBackup(vm.status)}`}
    >
      <form
        className="space-y-4"
        onSubmit={(e) => {
          e.preventDefault();
          start.mutate({
            vmId: vm.id,
            description,
            tags: tagList,
            mode,
            keepSnapshot: mode !== "full" && keepSnapshot,
          });
        }}
      >
        <div className="space-y-1.5">
          <Label htmlFor="backup-description">Description (optional)</Label>
          <Input
            id="backup-description"
            value={description}
            maxLength={2000}
            placeholder="e.g. before the kernel upgrade"
            onChange={(e) => setDescription(e.target.value)}
          />
        </div>
        <div className="space-y-1.5">
          <Label htmlFor="backup-tags">Tags (optional, comma separated)</Label>
          <Input
            id="backup-tags"
            value={tags}
            placeholder="pre-upgrade, ticket-1234"
            onChange={(e) => setTags(e.target.value)}
            aria-describedby="backup-tags-hint"
          />
          <p id="backup-tags-hint" className="text-xs text-slate-500">
            Tags make the restore point easy to find in the catalog.
          </p>
        </div>
        <div className="space-y-1.5">
          <Label htmlFor="backup-mode">Mode</Label>
          <Select
            id="backup-mode"
            value={mode}
            onChange={(e) => setMode(e.target.value as BackupMode)}
            aria-describedby="backup-mode-hint"
          >
            <option value="auto">Auto</option>
            <option value="full">Full (backup API)</option>
            <option value="snapshot-chain">Snapshot chain</option>
          </Select>
          <p id="backup-mode-hint" className="text-xs text-slate-500">
            {MODE_HINTS[mode]}
          </p>
        </div>
        <label className="flex items-start gap-2 text-sm">
          <input
            type="checkbox"
            className="mt-0.5 h-4 w-4 rounded border-slate-300"
            checked={mode !== "full" && keepSnapshot}
            disabled={mode === "full"}
            onChange={(e) => setKeepSnapshot(e.target.checked)}
          />
          <span>
            Keep the snapshot on the engine afterwards
            <span className="block text-xs text-slate-500">
              Off (recommended): the snapshot is merged back once the copy is done. Kept, an auto backup takes
              the snapshot chain.
            </span>
          </span>
        </label>
        <ErrorNote error={start.error} />
        <div className="flex justify-end gap-2">
          <Button type="button" variant="secondary" onClick={() => onOpenChange(false)}>
            Cancel
          </Button>
          <Button type="submit" disabled={start.isPending}>
            {start.isPending ? "Queuing…" : "Back up now"}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
