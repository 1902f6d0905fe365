"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { CheckCircle2, KeyRound, ShieldAlert, XCircle } from "lucide-react";
import { useId, useState } from "react";
import { toast } from "sonner";
import { Button } from "@/components/ui/button";
import { ErrorNote } from "@/components/ui/error-note";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Textarea } from "@/components/ui/textarea";
import { useTRPC } from "@/trpc/react";

export interface EngineFormValues {
  id?: string;
  name: string;
  apiUrl: string;
  username: string;
  caPem: string;
  insecure: boolean;
  /** Edit: the saved engine already has a CA (shown by its fingerprint; the PEM is not sent back). */
  savedCaFingerprint?: string | null;
}

/**
 * Add or edit an engine: URL, user, password (never shown again; left empty on edit to keep it), the CA —
 * uploaded, pasted, or fetched from the engine and confirmed by fingerprint — and TLS verification. "Test
 * connection" tries exactly what is in the form before anything is saved.
 */
export function EngineForm({ initial, onDone }: { initial: EngineFormValues; onDone: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const ids = useId();
  const editing = initial.id !== undefined;
  const [v, setV] = useState(initial);
  const [password, setPassword] = useState("");
  const [caChanged, setCaChanged] = useState(false);
  const [confirmed, setConfirmed] = useState(false);
  const set = (patch: Partial<EngineFormValues>) => setV((x) => ({ ...x, ...patch }));

  const fetchCa = useMutation(trpc.engines.fetchCa.mutationOptions());
  const test = useMutation(trpc.engines.testConnection.mutationOptions());
  const done = () => {
    void queryClient.invalidateQueries({ queryKey: trpc.engines.pathKey() });
    void queryClient.invalidateQueries({ queryKey: trpc.vms.pathKey() });
    onDone();
  };
  const create = useMutation(
    trpc.engines.create.mutationOptions({
      onSuccess: (e) => {
        toast.success(`Engine ${e.name} added`);
        done();
      },
    }),
  );
  const update = useMutation(
    trpc.engines.update.mutationOptions({
      onSuccess: (e) => {
        toast.success(`Engine ${e.name} saved`);
        done();
      },
    }),
  );
  const caForSubmit = caChanged
    ? v.caPem.trim()
      ? v.caPem
      : null
    : editing
      ? undefined
      : v.caPem.trim() || null;
  const runTest = () =>
    test.mutate({
      ...(editing ? { engineId: initial.id } : {}),
      apiUrl: v.apiUrl,
      username: v.username,
      ...(password ? { password } : {}),
      ...(caForSubmit !== undefined ? { caPem: caForSubmit } : {}),
      insecure: v.insecure,
    });
  const save = () => {
    if (editing && initial.id)
      update.mutate({
        id: initial.id,
        name: v.name,
        apiUrl: v.apiUrl,
        username: v.username,
        ...(password ? { password } : {}),
        ...(caForSubmit !== undefined ? { caPem: caForSubmit } : {}),
        insecure: v.insecure,
      });
    else
      create.mutate({
        name: v.name,
        apiUrl: v.apiUrl,
        username: v.username,
        password,
        caPem: caForSubmit,
        insecure: v.insecure,
      });
  };
  const fetched = fetchCa.data;
  // The server sends the saved password only to the saved URL, CA and TLS setting: a change needs it again.
  const passwordNeeded =
    !editing || v.apiUrl.trim() !== initial.apiUrl.trim() || v.insecure !== initial.insecure || caChanged;
  return (
    <form
      className="space-y-4"
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <div className="grid gap-4 sm:grid-cols-2">
        <div className="space-y-1">
          <Label htmlFor={`${ids}-name`}>Name</Label>
          <Input
            id={`${ids}-name`}
            required
            value={v.name}
            onChange={(e) => set({ name: e.target.value })}
            placeholder="Production engine"
          />
        </div>
        <div className="space-y-1">
          <Label htmlFor={`${ids}-url`}>Engine URL</Label>
          <Input
            id={`${ids}-url`}
            required
            value={v.apiUrl}
            onChange={(e) => set({ apiUrl: e.target.value })}
            placeholder="https://engine.example.com/ovirt-engine/api"
          />
        </div>
        <div className="space-y-1">
          <Label htmlFor={`${ids}-user`}>User</Label>
          <Input
            id={`${ids}-user`}
            required
            value={v.username}
            onChange={(e) => set({ username: e.target.value })}
            placeholder="admin@internal"
            autoComplete="off"
          />
        </div>
        <div className="space-y-1">
          <Label htmlFor={`${ids}-password`}>Password</Label>
          <Input
            id={`${ids}-password`}
            type="password"
            required={passwordNeeded}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            placeholder={passwordNeeded ? "" : "unchanged"}
            autoComplete="new-password"
            aria-describedby={`${ids}-password-hint`}
          />
          <p id={`${ids}-password-hint`} className="text-xs text-slate-500">
            Stored encrypted; never shown again.
            {editing && passwordNeeded ? " Enter it again: the URL, CA or TLS setting changed." : ""}
          </p>
        </div>
      </div>

      <fieldset className="space-y-2 rounded-md border border-slate-200 p-3">
        <legend className="px-1 text-sm font-medium">Engine CA</legend>
        {editing && !caChanged ? (
          <p className="text-sm text-slate-600">
            {initial.savedCaFingerprint ? (
              <>
                Saved CA, SHA-256{" "}
                <span className="break-all font-mono text-xs">{initial.savedCaFingerprint}</span>
              </>
            ) : (
              "No CA saved: the system's CAs are trusted."
            )}{" "}
            <button
              type="button"
              className="text-brand-700 hover:underline"
              onClick={() => setCaChanged(true)}
            >
              Change
            </button>
          </p>
        ) : (
          <>
            <Textarea
              id={`${ids}-ca`}
              aria-label="CA certificate (PEM)"
              className="font-mono text-xs"
              rows={4}
              value={v.caPem}
              onChange={(e) => {
                set({ caPem: e.target.value });
                setCaChanged(true);
              }}
              placeholder="-----BEGIN CERTIFICATE-----"
            />
            <div className="flex flex-wrap items-center gap-2">
              <Label
                htmlFor={`${ids}-ca-file`}
                className="cursor-pointer rounded-md border border-slate-300 bg-white px-3 py-1.5 text-sm hover:bg-slate-100"
              >
                Upload ca.pem…
              </Label>
              <input
                id={`${ids}-ca-file`}
                type="file"
                accept=".pem,.crt,.cer,text/plain"
                className="sr-only"
                onChange={async (e) => {
                  const file = e.target.files?.[0];
                  if (!file) return;
                  set({ caPem: await file.text() });
                  setCaChanged(true);
                }}
              />
              <Button
                type="button"
                size="sm"
                variant="secondary"
                disabled={!v.apiUrl || fetchCa.isPending}
                onClick={() => {
                  setConfirmed(false);
                  fetchCa.mutate({ apiUrl: v.apiUrl });
                }}
              >
                <KeyRound className="h-3.5 w-3.5" aria-hidden="true" /> Fetch from the engine
              </Button>
            </div>
            <ErrorNote error={fetchCa.error} />
            {fetched ? (
              <div className="space-y-2 rounded-md bg-slate-50 p-3 text-sm" data-testid="fetched-ca">
                <p>
                  <span className="text-slate-500">Subject:</span> {fetched.info.subject}
                </p>
                <p>
                  <span className="text-slate-500">Valid until:</span> {fetched.info.validTo}
                  {!fetched.info.isCa ? (
                    <span className="ml-2 text-amber-700">(not a CA certificate)</span>
                  ) : null}
                </p>
                <p>
                  <span className="text-slate-500">SHA-256:</span>{" "}
                  <span className="break-all font-mono text-xs" data-testid="ca-fingerprint">
                    {fetched.info.fingerprint256}
                  </span>
                </p>
                <p className="text-xs text-slate-500">
                  Anyone between you and the engine could hand out another CA. Compare the fingerprint with
                  the one on the engine:{" "}
                  <code>openssl x509 -in /etc/pki/ovirt-engine/ca.pem -noout -fingerprint -sha256</code>
                </p>
                <label className="flex items-center gap-2">
                  <input
                    type="checkbox"
                    checked={confirmed}
                    onChange={(e) => setConfirmed(e.target.checked)}
                  />
                  The fingerprint matches the engine&apos;s
                </label>
                <Button
                  type="button"
                  size="sm"
                  disabled={!confirmed}
                  onClick={() => {
                    set({ caPem: fetched.pem });
                    setCaChanged(true);
                    fetchCa.reset();
                  }}
                >
                  Use this CA
                </Button>
              </div>
            ) : null}
          </>
        )}
      </fieldset>

      <label className="flex items-start gap-2 text-sm">
        <input
          type="checkbox"
          className="mt-0.5"
          checked={v.insecure}
          onChange={(e) => set({ insecure: e.target.checked })}
        />
        <span>
          Do not verify the engine&apos;s certificate
          <span className="block text-xs text-slate-500">
            Labs only: anyone on the network path could read the password.
          </span>
        </span>
      </label>
      {v.insecure ? (
        <p className="flex items-center gap-2 rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900">
          <ShieldAlert className="h-4 w-4" aria-hidden="true" /> TLS verification will be off for this engine.
        </p>
      ) : null}

      {test.data ? (
        test.data.ok ? (
          <p
            className="flex items-start gap-2 rounded-md bg-green-50 px-3 py-2 text-sm text-green-800"
            role="status"
          >
            <CheckCircle2 className="mt-0.5 h-4 w-4" aria-hidden="true" />
            Connected{test.data.version ? ` to oVirt ${test.data.version}` : ""}: {test.data.clusters}{" "}
            cluster(s), {test.data.storageDomains} storage domain(s)
            {test.data.vms !== null ? `, ${test.data.vms} VMs` : ""} ({test.data.elapsedMs} ms).
          </p>
        ) : (
          <div
            className="flex items-start gap-2 rounded-md bg-red-50 px-3 py-2 text-sm text-red-800"
            role="alert"
          >
            <XCircle className="mt-0.5 h-4 w-4 shrink-0" aria-hidden="true" />
            <div>
              <p className="font-medium">{test.data.hint}</p>
              <p className="break-words text-xs">{test.data.error}</p>
            </div>
          </div>
        )
      ) : null}
      <ErrorNote error={test.error ?? create.error ?? update.error} />
      <div className="flex flex-wrap justify-end gap-2">
        <Button
          type="button"
          variant="secondary"
          disabled={test.isPending || !v.apiUrl || !v.username || (passwordNeeded && !password)}
          onClick={runTest}
        >
          {test.isPending ? "Testing…" : "Test connection"}
        </Button>
        <Button type="submit" disabled={create.isPending || update.isPending}>
          {editing ? "Save" : "Add engine"}
        </Button>
      </div>
    </form>
  );
}
