"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Download } from "lucide-react";
import Link from "next/link";
import { useState } from "react";
import { toast } from "sonner";
import { Button } from "@/components/ui/button";
import { Dialog } from "@/components/ui/dialog";
import { ErrorNote } from "@/components/ui/error-note";
import { Label } from "@/components/ui/label";
import { Textarea } from "@/components/ui/textarea";
import { formatDateTime } from "@/lib/format";
import { useTRPC } from "@/trpc/react";

/** The image URL of one disk (streamed by the server; resumable with HTTP Range). */
export function imageUrl(restorePointId: string, diskId: string, format: "raw" | "qcow2"): string {
  return `/api/images/${encodeURIComponent(restorePointId)}/${encodeURIComponent(diskId)}?format=${format}`;
}

/**
 * Download one disk as a raw or qcow2 image — straight away, or after another approver allowed it when the team
 * requires approval for downloads.
 */
export function DiskDownload({
  restorePointId,
  diskId,
  alias,
}: {
  restorePointId: string;
  diskId: string;
  alias: string;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const access = useQuery(trpc.restorePoints.downloadAccess.queryOptions({ restorePointId, diskId }));
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  const request = useMutation(
    trpc.restorePoints.requestDownload.mutationOptions({
      onSuccess: (r) => {
        setOpen(false);
        void queryClient.invalidateQueries({ queryKey: trpc.restorePoints.downloadAccess.pathKey() });
        if (r.status === "pending") toast.success("Download sent for approval");
      },
    }),
  );
  if (access.error) return <p className="text-xs text-red-700">{access.error.message}</p>;
  const a = access.data;
  if (!a) return null;
  if (a.allowed)
    return (
      <div className="flex flex-wrap items-center gap-2">
        {(["qcow2", "raw"] as const).map((format) => (
          <Button key={format} asChild size="sm" variant="secondary">
            <a
              href={imageUrl(restorePointId, a.diskId, format)}
              download
              aria-label={`Download ${alias} as ${format}`}
              data-testid={`download-${format}`}
            >
              <Download className="h-3.5 w-3.5" aria-hidden="true" />{" "}
              {format === "raw" ? "Raw image" : "qcow2"}
            </a>
          </Button>
        ))}
        {a.approval.validUntil ? (
          <span className="text-xs text-slate-500">
            approved until {formatDateTime(a.approval.validUntil)}
          </span>
        ) : null}
      </div>
    );
  if (a.approval.pendingRequestId)
    return (
      <p className="text-sm text-amber-800">
        Waiting for approval.{" "}
        <Link href={`/approvals?id=${a.approval.pendingRequestId}`} className="font-medium underline">
          See the request
        </Link>
      </p>
    );
  return (
    <>
      <Button size="sm" variant="secondary" onClick={() => setOpen(true)}>
        Ask to download…
      </Button>
      <Dialog
        open={open}
        onOpenChange={setOpen}
        title={`Download ${alias}`}
        description="Your team requires a second person's approval before a disk image leaves Lifeboat. Once another approver of the team agrees, the download is open to you for 24 hours."
      >
        <form
          className="space-y-4"
          onSubmit={(e) => {
            e.preventDefault();
            request.mutate({ restorePointId, diskId: a.diskId, reason });
          }}
        >
          <div className="space-y-1.5">
            <Label htmlFor={`download-reason-${a.diskId}`}>Why (the approver reads this)</Label>
            <Textarea
              id={`download-reason-${a.diskId}`}
              required
              value={reason}
              onChange={(e) => setReason(e.target.value)}
            />
          </div>
          <ErrorNote error={request.error} />
          <Button type="submit" disabled={request.isPending}>
            Ask for approval
          </Button>
        </form>
      </Dialog>
    </>
  );
}
