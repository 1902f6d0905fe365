import { X509Certificate } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { openSecret, sealSecret } from "@lifeboat/config";
import type { Db, Engine } from "@lifeboat/db";
import { EngineAuthError, EngineClient, EngineError } from "@lifeboat/ovirt-core";
import { z } from "zod";
import type { Actor, ServiceContext } from "./context";
import { sealingKey } from "./engines";
import { AppError } from "./errors";
import { publishEvent } from "./events";
import { isUniqueViolation } from "./jobs-start";

/**
 * Engines as site administrators manage them (Settings → Engines): add, test, edit, disable. The password is
 * sealed with LIFEBOAT_ENCRYPTION_KEY on the way in and never leaves the server; the CA can be uploaded, or
 * fetched from the engine's pki-resource URL and confirmed by its fingerprint.
 */

export const caInfoView = z.object({
  subject: z.string(),
  issuer: z.string(),
  /** SHA-256 fingerprint, colon-separated hex (as `openssl x509 -fingerprint -sha256` prints it). */
  fingerprint256: z.string(),
  validFrom: z.string(),
  validTo: z.string(),
  /** The certificate is a CA (basicConstraints CA:TRUE). */
  isCa: z.boolean(),
});
export type CaInfo = z.infer<typeof caInfoView>;

export const engineView = z.object({
  id: z.string(),
  name: z.string(),
  apiUrl: z.string(),
  username: z.string(),
  /** The CA the engine is verified against, if one was given. */
  ca: caInfoView.nullable(),
  insecure: z.boolean(),
  enabled: z.boolean(),
  simulated: z.boolean(),
  lastCheckAt: z.date().nullable(),
  lastError: z.string().nullable(),
  inventoryAt: z.date().nullable(),
  /** VMs the engine listed at the last inventory refresh. */
  vmCount: z.number(),
  createdAt: z.date(),
});
export type EngineView = z.infer<typeof engineView>;

/** The facts of a PEM certificate (the first one in the text). */
export function caInfo(pem: string): CaInfo {
  const block = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  if (!block)
    throw new AppError(
      "BAD_REQUEST",
      "That is not a PEM certificate (it has no -----BEGIN CERTIFICATE----- block).",
    );
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(block);
  } catch (e) {
    throw new AppError(
      "BAD_REQUEST",
      `The certificate cannot be read: ${e instanceof Error ? e.message : e}`,
    );
  }
  return {
    subject: cert.subject.replace(/\n/g, ", "),
    issuer: cert.issuer.replace(/\n/g, ", "),
    fingerprint256: cert.fingerprint256,
    validFrom: cert.validFrom,
    validTo: cert.validTo,
    isCa: cert.ca,
  };
}

function safeCaInfo(pem: string | null): CaInfo | null {
  if (!pem) return null;
  try {
    return caInfo(pem);
  } catch {
    return null;
  }
}

export function toEngineView(row: Engine, vmCount: number): EngineView {
  return {
    id: row.id,
    name: row.name,
    apiUrl: row.apiUrl,
    username: row.username,
    ca: safeCaInfo(row.caPem),
    insecure: row.insecure,
    enabled: row.enabled,
    simulated: row.simulated,
    lastCheckAt: row.lastCheckAt,
    lastError: row.lastError,
    inventoryAt: row.inventoryAt,
    vmCount,
    createdAt: row.createdAt,
  };
}

export async function listEngines(db: Db): Promise<EngineView[]> {
  const rows = await db.engine.findMany({ orderBy: { name: "asc" } });
  const counts = await db.vm.groupBy({ by: ["engineId"], where: { goneAt: null }, _count: { _all: true } });
  const byEngine = new Map(counts.map((c) => [c.engineId, c._count._all]));
  return rows.map((r) => toEngineView(r, byEngine.get(r.id) ?? 0));
}

/** `https://engine.example.com` → `https://engine.example.com/ovirt-engine/api`; plain http only when insecure. */
export function normalizeApiUrl(raw: string, insecure: boolean): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new AppError(
      "BAD_REQUEST",
      `"${raw.slice(0, 200)}" is not a URL: use https://ENGINE-FQDN/ovirt-engine/api.`,
    );
  }
  if (url.protocol !== "https:" && !(insecure && url.protocol === "http:"))
    throw new AppError(
      "BAD_REQUEST",
      "The engine URL must start with https:// (plain http sends the password in clear; only with TLS verification off).",
    );
  if (url.username || url.password)
    throw new AppError("BAD_REQUEST", "Put the user name and password in their own fields, not in the URL.");
  let pathname = url.pathname.replace(/\/+$/, "");
  if (pathname === "") pathname = "/ovirt-engine/api";
  return `${url.origin}${pathname}`;
}

function checkedCa(caPem: string | null | undefined): string | null | undefined {
  if (caPem === undefined || caPem === null) return caPem;
  const trimmed = caPem.trim();
  if (trimmed === "") return null;
  caInfo(trimmed);
  return `${trimmed}\n`;
}

export const engineInput = z.object({
  name: z.string().trim().min(1).max(100),
  apiUrl: z.string().trim().min(1).max(500),
  /** `user@profile`, e.g. admin@internal. */
  username: z.string().trim().min(1).max(200),
  password: z.string().min(1).max(500),
  caPem: z
    .string()
    .max(64 * 1024)
    .nullable()
    .optional(),
  insecure: z.boolean().default(false),
});
export type EngineInput = z.infer<typeof engineInput>;

/** Registers an engine (the password is sealed at once and never shown again). */
export async function createEngine(
  ctx: ServiceContext,
  _actor: Actor,
  input: EngineInput,
): Promise<EngineView> {
  ctx.audit.targetType = "engine";
  ctx.audit.details = { name: input.name, apiUrl: input.apiUrl, insecure: input.insecure };
  const apiUrl = normalizeApiUrl(input.apiUrl, input.insecure);
  const caPem = checkedCa(input.caPem) ?? null;
  let engine: EngineView;
  try {
    const row = await ctx.db.engine.create({
      data: {
        name: input.name,
        apiUrl,
        username: input.username,
        secretSealed: sealSecret(input.password, sealingKey(ctx.config.encryptionKey)),
        caPem,
        insecure: input.insecure,
      },
    });
    engine = toEngineView(row, 0);
  } catch (e) {
    if (isUniqueViolation(e))
      throw new AppError("CONFLICT", `An engine named "${input.name}" exists already.`);
    throw e;
  }
  ctx.audit.targetId = engine.id;
  await publishEvent(ctx.db, { kind: "engine", id: engine.id, teams: null });
  return engine;
}

export const engineUpdate = z.object({
  name: engineInput.shape.name.optional(),
  apiUrl: engineInput.shape.apiUrl.optional(),
  username: engineInput.shape.username.optional(),
  /** Only when it changes (never shown again). */
  password: engineInput.shape.password.optional(),
  /** null removes the CA. */
  caPem: engineInput.shape.caPem,
  insecure: z.boolean().optional(),
});
export type EngineUpdate = z.infer<typeof engineUpdate>;

export const engineUpdateRequest = engineUpdate.extend({ id: z.string().min(1).max(100) });
export type EngineUpdateRequest = z.infer<typeof engineUpdateRequest>;

/**
 * The saved password may go only where it was saved for: using it with another URL, CA or TLS setting would
 * let whoever set them receive it, so such a change needs the password entered again. Both sides are compared
 * in their normal form (a URL without its /ovirt-engine/api path, a CA without its final newline are the same).
 */
function requirePasswordForMovedEngine(
  row: Engine,
  next: { apiUrl: string; caPem: string | null | undefined; insecure: boolean },
): void {
  const savedForm = <T>(normal: () => T, raw: T): T => {
    try {
      return normal();
    } catch {
      return raw;
    }
  };
  const moved =
    normalizeApiUrl(next.apiUrl, next.insecure) !==
      savedForm(() => normalizeApiUrl(row.apiUrl, true), row.apiUrl) ||
    (checkedCa(next.caPem) ?? null) !== savedForm(() => checkedCa(row.caPem) ?? null, row.caPem) ||
    next.insecure !== row.insecure;
  if (moved)
    throw new AppError(
      "BAD_REQUEST",
      "The engine URL, CA or TLS setting differs from the saved one: enter the engine password again.",
    );
}

/** Changes an engine's name, URL, credentials, CA or TLS setting (a password only when a new one is given). */
export async function updateEngine(
  ctx: ServiceContext,
  _actor: Actor,
  input: EngineUpdateRequest,
): Promise<EngineView> {
  const { id, ...patch } = input;
  ctx.audit.targetType = "engine";
  ctx.audit.targetId = id;
  ctx.audit.details = {
    changed: Object.entries(patch)
      .filter(([, v]) => v !== undefined)
      .map(([k]) => k),
    ...(patch.insecure !== undefined ? { insecure: patch.insecure } : {}),
  };
  const row = await ctx.db.engine.findUnique({ where: { id } });
  if (!row) throw new AppError("NOT_FOUND", "No such engine.");
  const insecure = patch.insecure ?? row.insecure;
  const apiUrl = patch.apiUrl !== undefined ? normalizeApiUrl(patch.apiUrl, insecure) : row.apiUrl;
  if (patch.apiUrl === undefined) normalizeApiUrl(row.apiUrl, insecure);
  const caPem = checkedCa(patch.caPem);
  ctx.audit.details = { ...ctx.audit.details, apiUrl };
  if (patch.password === undefined)
    requirePasswordForMovedEngine(row, { apiUrl, caPem: caPem === undefined ? row.caPem : caPem, insecure });
  let engine: EngineView;
  try {
    const updated = await ctx.db.engine.update({
      where: { id },
      data: {
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        apiUrl,
        ...(patch.username !== undefined ? { username: patch.username } : {}),
        ...(patch.password !== undefined
          ? { secretSealed: sealSecret(patch.password, sealingKey(ctx.config.encryptionKey)) }
          : {}),
        ...(caPem !== undefined ? { caPem } : {}),
        insecure,
        // A changed connection has not been checked yet.
        lastError: null,
      },
    });
    engine = toEngineView(updated, await ctx.db.vm.count({ where: { engineId: id, goneAt: null } }));
  } catch (e) {
    if (isUniqueViolation(e))
      throw new AppError("CONFLICT", `An engine named "${patch.name}" exists already.`);
    throw e;
  }
  await publishEvent(ctx.db, { kind: "engine", id, teams: null });
  return engine;
}

export const engineEnabledRequest = z.object({ id: z.string().min(1).max(100), enabled: z.boolean() });
export type EngineEnabledRequest = z.infer<typeof engineEnabledRequest>;

/**
 * Disables (or enables again) an engine: a disabled engine gets no backups, restores or inventory refreshes;
 * its VMs and restore points stay in the catalog.
 */
export async function setEngineEnabled(
  ctx: ServiceContext,
  _actor: Actor,
  input: EngineEnabledRequest,
): Promise<EngineView> {
  const { id, enabled } = input;
  ctx.audit.targetType = "engine";
  ctx.audit.targetId = id;
  ctx.audit.details = { enabled };
  const row = await ctx.db.engine.findUnique({ where: { id } });
  if (!row) throw new AppError("NOT_FOUND", "No such engine.");
  const updated = await ctx.db.engine.update({ where: { id }, data: { enabled } });
  const engine = toEngineView(updated, await ctx.db.vm.count({ where: { engineId: id, goneAt: null } }));
  await publishEvent(ctx.db, { kind: "engine", id, teams: null });
  return engine;
}

// ---------------------------------------------------------------- test connection

export const connectionTestView = z.object({
  ok: z.boolean(),
  /** The engine's version, e.g. "4.5.5-1.el8". */
  version: z.string().nullable(),
  clusters: z.number().nullable(),
  storageDomains: z.number().nullable(),
  vms: z.number().nullable(),
  /** What went wrong, in the engine's (or the network's) words. */
  error: z.string().nullable(),
  /** What to do about it. */
  hint: z.string().nullable(),
  elapsedMs: z.number(),
});
export type ConnectionTest = z.infer<typeof connectionTestView>;

const zProduct = z.object({
  product_info: z
    .object({
      version: z
        .object({ full_version: z.string().optional(), major: z.unknown(), minor: z.unknown() })
        .partial(),
    })
    .partial()
    .optional(),
  summary: z
    .object({ vms: z.object({ total: z.union([z.string(), z.number()]).optional() }).partial() })
    .partial()
    .optional(),
});

/** Words for the usual reasons an engine cannot be reached. */
export function connectionHint(message: string, auth: boolean): string {
  const m = message.toLowerCase();
  if (auth) return "The engine refused the user name or password. Use user@profile (e.g. admin@internal).";
  if (/self[- ]signed|unable to (verify|get (local )?issuer)|certificate chain|unable_to_get_issuer/.test(m))
    return "The engine's certificate is not signed by a CA Lifeboat trusts: upload the engine CA, or fetch it from the engine and check its fingerprint.";
  if (/altname|hostname|does not match|err_tls_cert_altname_invalid/.test(m))
    return "The engine's certificate does not name this host: use the engine's fully qualified name from its certificate.";
  if (/expired/.test(m)) return "The engine's certificate has expired: renew it on the engine.";
  if (/enotfound|getaddrinfo/.test(m)) return "The host name does not resolve: check the URL.";
  if (/econnrefused/.test(m))
    return "Nothing listens there: check the host and port, and that the engine is up.";
  if (/timeout|timed out|etimedout/.test(m))
    return "No answer in time: check the network path and firewall to the engine.";
  if (/404|not found/.test(m)) return "The engine API is not at that path: it usually is /ovirt-engine/api.";
  return "Check the URL, the credentials and the CA, then test again.";
}

/**
 * Logs in and reads the API root (version), clusters, storage domains: whether Lifeboat can work with the
 * engine with these settings. Never throws for the engine's failures — they are the answer.
 */
async function tryEngineConnection(settings: {
  apiUrl: string;
  username: string;
  password: string;
  caPem?: string | null;
  insecure: boolean;
}): Promise<ConnectionTest> {
  const started = Date.now();
  const url = normalizeApiUrl(settings.apiUrl, settings.insecure);
  const caPem = checkedCa(settings.caPem) ?? undefined;
  const engine = new EngineClient({
    url,
    username: settings.username,
    password: settings.password,
    caPem,
    insecure: settings.insecure,
    retry: { attempts: 1 },
    connectTimeoutMs: 10_000,
    requestTimeoutMs: 20_000,
  });
  try {
    const root = await engine.request("GET", "");
    const product = zProduct.safeParse(root.json);
    const version = product.success ? (product.data.product_info?.version?.full_version ?? null) : null;
    const vmsTotal = product.success ? product.data.summary?.vms?.total : undefined;
    const clusters = await engine.clusters.list();
    const domains = await engine.storageDomains.list();
    return {
      ok: true,
      version,
      clusters: clusters.length,
      storageDomains: domains.length,
      vms: vmsTotal !== undefined && /^\d+$/.test(String(vmsTotal)) ? Number(vmsTotal) : null,
      error: null,
      hint: null,
      elapsedMs: Date.now() - started,
    };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const cause = e instanceof Error && e.cause instanceof Error ? ` (${e.cause.message})` : "";
    const auth = e instanceof EngineAuthError || (e instanceof EngineError && e.isAuth);
    return {
      ok: false,
      version: null,
      clusters: null,
      storageDomains: null,
      vms: null,
      error: `${message}${cause}`.slice(0, 1000),
      hint: connectionHint(`${message}${cause}`, auth),
      elapsedMs: Date.now() - started,
    };
  } finally {
    await engine.close().catch(() => undefined);
  }
}

export const engineTestRequest = z.object({
  /** A saved engine: its settings, overridden by the fields given (the saved password when none is given). */
  engineId: z.string().max(100).optional(),
  apiUrl: z.string().trim().max(500).optional(),
  username: z.string().trim().max(200).optional(),
  password: z.string().max(500).optional(),
  caPem: z
    .string()
    .max(64 * 1024)
    .nullable()
    .optional(),
  insecure: z.boolean().optional(),
});
export type EngineTestRequest = z.infer<typeof engineTestRequest>;

/**
 * Tries the connection: log in, read the API version, clusters and storage domains. For a saved engine tested
 * as saved, the outcome is also recorded on it (last check, last error). The saved password is used only with
 * the saved URL, CA and TLS setting.
 */
export async function testEngineConnection(
  ctx: ServiceContext,
  _actor: Actor,
  input: EngineTestRequest,
): Promise<ConnectionTest> {
  const row = input.engineId ? await ctx.db.engine.findUnique({ where: { id: input.engineId } }) : null;
  if (input.engineId && !row) throw new AppError("NOT_FOUND", "No such engine.");
  ctx.audit.targetType = "engine";
  ctx.audit.targetId = row?.id;
  const apiUrl = input.apiUrl ?? row?.apiUrl;
  const username = input.username ?? row?.username;
  const caPem = input.caPem !== undefined ? input.caPem : (row?.caPem ?? null);
  const insecure = input.insecure ?? row?.insecure ?? false;
  let password = input.password;
  if (!password && row) {
    // A refused attempt is audited with the URL it tried.
    ctx.audit.details = { apiUrl: apiUrl ?? row.apiUrl };
    requirePasswordForMovedEngine(row, { apiUrl: apiUrl ?? row.apiUrl, caPem, insecure });
    try {
      password = openSecret(row.secretSealed, sealingKey(ctx.config.encryptionKey));
    } catch {
      throw new AppError("PRECONDITION_FAILED", "The saved password cannot be opened: enter it again.");
    }
  }
  if (!apiUrl || !username || !password)
    throw new AppError("BAD_REQUEST", "Give the engine URL, the user name and the password.");
  ctx.audit.details = { apiUrl: normalizeApiUrl(apiUrl, insecure) };
  const result = await tryEngineConnection({ apiUrl, username, password, caPem, insecure });
  const asSaved =
    row &&
    !input.apiUrl &&
    !input.username &&
    !input.password &&
    input.caPem === undefined &&
    input.insecure === undefined;
  if (asSaved)
    await ctx.db.engine.update({
      where: { id: row.id },
      data: { lastCheckAt: new Date(), lastError: result.ok ? null : (result.error ?? "failed") },
    });
  ctx.audit.details = {
    ...ctx.audit.details,
    ok: result.ok,
    ...(result.error ? { error: result.error } : {}),
  };
  return result;
}

// ---------------------------------------------------------------- fetch the CA

const PKI_PATH = "/ovirt-engine/services/pki-resource?resource=ca-certificate&format=X509-PEM-CA";
const MAX_CA_BYTES = 64 * 1024;

/**
 * Downloads the engine CA from its pki-resource URL (ref §2.5). The CA is what TLS will be verified against, so
 * it cannot be verified itself: the connection is not checked, and the administrator must compare the
 * fingerprint shown with the engine's (`openssl x509 -in /etc/pki/ovirt-engine/ca.pem -noout -fingerprint
 * -sha256` on the engine) before saving it.
 */
export const engineCaRequest = z.object({ apiUrl: z.string().trim().min(1).max(500) });
export const engineCaView = z.object({ pem: z.string(), info: caInfoView, url: z.string() });
export type EngineCa = z.infer<typeof engineCaView>;

export async function fetchEngineCa(
  ctx: ServiceContext,
  _actor: Actor,
  input: z.infer<typeof engineCaRequest>,
): Promise<EngineCa> {
  ctx.audit.details = { apiUrl: input.apiUrl };
  const base = normalizeApiUrl(input.apiUrl, true);
  const url = `${new URL(base).origin}${PKI_PATH}`;
  const pem = await new Promise<string>((resolve, reject) => {
    const get = url.startsWith("https:") ? https.get : http.get;
    const req = get(url, { rejectUnauthorized: false, timeout: 10_000 }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new AppError("ENGINE_ERROR", `The engine answered ${res.statusCode} for its CA at ${url}.`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_CA_BYTES) {
          req.destroy();
          reject(new AppError("ENGINE_ERROR", "The engine's CA answer is too large to be a certificate."));
          return;
        }
        chunks.push(c);
      });
      res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("no answer within 10 s")));
    req.on("error", (e) =>
      reject(
        e instanceof AppError
          ? e
          : new AppError("ENGINE_UNREACHABLE", `The CA could not be fetched from ${url}: ${e.message}`),
      ),
    );
  });
  const info = caInfo(pem);
  ctx.audit.details = { ...ctx.audit.details, fingerprint256: info.fingerprint256 };
  return { pem: pem.trim(), info, url };
}
