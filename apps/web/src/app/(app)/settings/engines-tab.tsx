"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Plus } from "lucide-react";
import { useState } from "react";
import { toast } from "sonner";
import { type ColumnDef, DataTable } from "@/components/data/data-table";
import { useLiveRefresh } from "@/components/data/use-live";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Dialog } from "@/components/ui/dialog";
import { EmptyState } from "@/components/ui/empty-state";
import { ErrorNote } from "@/components/ui/error-note";
import { formatDateTime, formatRelative } from "@/lib/format";
import { useTRPC } from "@/trpc/react";
import { EngineForm, type EngineFormValues } from "./engine-form";

const BLANK: EngineFormValues = {
  name: "",
  apiUrl: "",
  username: "admin@internal",
  caPem: "",
  insecure: false,
};

export function EnginesTab() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  useLiveRefresh(["engine", "inventory"], [trpc.engines.list.queryKey()]);
  const engines = useQuery(trpc.engines.list.queryOptions());
  const [editing, setEditing] = useState<EngineFormValues | null>(null);
  const invalidate = () => void queryClient.invalidateQueries({ queryKey: trpc.engines.pathKey() });
  const setEnabled = useMutation(
    trpc.engines.setEnabled.mutationOptions({
      onSuccess: (e) => {
        toast.success(`${e.name} ${e.enabled ? "enabled" : "disabled"}`);
        invalidate();
      },
      onError: (e) => toast.error(e.message),
    }),
  );
  const test = useMutation(
    trpc.engines.testConnection.mutationOptions({
      onSuccess: (r) => {
        if (r.ok) toast.success(`Connected${r.version ? ` to oVirt ${r.version}` : ""} in ${r.elapsedMs} ms`);
        else toast.error(`${r.hint} (${r.error})`);
        invalidate();
      },
      onError: (e) => toast.error(e.message),
    }),
  );
  const refresh = useMutation(
    trpc.vms.refresh.mutationOptions({
      onSuccess: (r) => {
        for (const e of r.engines)
          if (e.error) toast.error(`${e.engineName}: ${e.error}`);
          else if (e.seen !== undefined) toast.success(`${e.engineName}: ${e.seen} VMs`);
        invalidate();
      },
      onError: (e) => toast.error(e.message),
    }),
  );
  type Row = NonNullable<typeof engines.data>[number];
  const columns: ColumnDef<Row, unknown>[] = [
    {
      id: "name",
      header: "Engine",
      cell: ({ row: { original: e } }) => (
        <div>
          <span className="font-medium">{e.name}</span>{" "}
          {e.simulated ? <Badge tone="blue">simulated</Badge> : null}
          <p className="break-all text-xs text-slate-500">{e.apiUrl}</p>
          <p className="text-xs text-slate-500">as {e.username}</p>
        </div>
      ),
    },
    {
      id: "state",
      header: "State",
      cell: ({ row: { original: e } }) => (
        <div className="max-w-xs space-y-1">
          {!e.enabled ? (
            <Badge tone="slate">disabled</Badge>
          ) : e.lastError ? (
            <Badge tone="red">failing</Badge>
          ) : e.lastCheckAt ? (
            <Badge tone="green">ok</Badge>
          ) : (
            <Badge>not checked yet</Badge>
          )}
          {e.lastError ? <p className="line-clamp-3 text-xs text-red-700">{e.lastError}</p> : null}
          <p className="text-xs text-slate-500" title={formatDateTime(e.lastCheckAt)}>
            last contact {formatRelative(e.lastCheckAt)}
          </p>
        </div>
      ),
    },
    {
      id: "inventory",
      header: "VMs",
      cell: ({ row: { original: e } }) => (
        <div>
          <span className="tabular-nums">{e.vmCount}</span>
          <p className="text-xs text-slate-500">read {formatRelative(e.inventoryAt)}</p>
        </div>
      ),
    },
    {
      id: "tls",
      header: "TLS",
      cell: ({ row: { original: e } }) =>
        e.insecure ? (
          <Badge tone="red">verification off</Badge>
        ) : e.ca ? (
          <div className="max-w-56 text-xs">
            <span className="text-slate-700">CA {e.ca.subject}</span>
            <p className="truncate font-mono text-slate-500" title={e.ca.fingerprint256}>
              {e.ca.fingerprint256}
            </p>
          </div>
        ) : (
          <span className="text-xs text-slate-500">system CAs</span>
        ),
    },
    {
      id: "actions",
      header: () => <span className="sr-only">Actions</span>,
      cell: ({ row: { original: e } }) => (
        <div className="flex flex-wrap justify-end gap-1">
          <Button
            size="sm"
            variant="ghost"
            disabled={test.isPending}
            onClick={() => test.mutate({ engineId: e.id })}
          >
            Test
          </Button>
          <Button
            size="sm"
            variant="ghost"
            disabled={!e.enabled || refresh.isPending}
            onClick={() => refresh.mutate({ engineId: e.id })}
          >
            Read VMs
          </Button>
          <Button
            size="sm"
            variant="ghost"
            onClick={() =>
              setEditing({
                id: e.id,
                name: e.name,
                apiUrl: e.apiUrl,
                username: e.username,
                caPem: "",
                insecure: e.insecure,
                savedCaFingerprint: e.ca?.fingerprint256 ?? null,
              })
            }
          >
            Edit
          </Button>
          <Button
            size="sm"
            variant="ghost"
            onClick={() => setEnabled.mutate({ id: e.id, enabled: !e.enabled })}
          >
            {e.enabled ? "Disable" : "Enable"}
          </Button>
        </div>
      ),
    },
  ];
  return (
    <div className="space-y-4">
      <div className="flex justify-end">
        <Button onClick={() => setEditing({ ...BLANK })}>
          <Plus className="h-4 w-4" aria-hidden="true" /> Add engine
        </Button>
      </div>
      <ErrorNote error={engines.error} />
      <DataTable
        caption="Engines"
        testId="engine-table"
        columns={columns}
        data={engines.data ?? []}
        getRowId={(e) => e.id}
        loading={engines.isLoading}
        empty={
          <EmptyState
            title="No engine yet."
            action={<Button onClick={() => setEditing({ ...BLANK })}>Add engine</Button>}
          >
            Add your oVirt / RHV engine: its URL, a user (e.g. admin@internal), and its CA.
          </EmptyState>
        }
      />
      {editing ? (
        <Dialog
          open={editing !== null}
          onOpenChange={(o) => !o && setEditing(null)}
          title={editing.id ? `Edit ${editing.name}` : "Add an engine"}
          className="max-w-2xl"
        >
          <EngineForm initial={editing} onDone={() => setEditing(null)} />
        </Dialog>
      ) : null}
    </div>
  );
}
