import { type Agent, type Dispatcher, request } from "undici";
import type { z } from "zod";
import { createAgent, describeNetworkError, isTransientNetworkError, type TlsOptions } from "../http";
import { AbortedError, backoffDelay, sleep } from "../wait";
import { Checkpoints, VmBackups } from "./backups";
import { Clusters, DataCenters } from "./clusters";
import { DiskAttachments, DiskSnapshots, Disks } from "./disks";
import { EngineAuthError, EngineError } from "./errors";
import { Events } from "./events";
import { ImageTransfers } from "./image-transfers";
import { describeIssues } from "./json";
import { Snapshots } from "./snapshots";
import { StorageDomains } from "./storage-domains";
import { Vms } from "./vms";

export interface EngineRetryOptions {
  /** Total attempts of an idempotent call (first try included). Default 6. */
  attempts?: number;
  /** First backoff delay; doubles per attempt up to `maxDelayMs`. Default 1000. */
  baseDelayMs?: number;
  /** Default 15000. */
  maxDelayMs?: number;
}

export interface EngineClientOptions extends TlsOptions {
  /** `https://ENGINE/ovirt-engine/api` (a bare `https://ENGINE` gets that path). */
  url: string;
  /** `user@profile`, e.g. `admin@internal`. */
  username: string;
  password: string;
  /** `sso` (OAuth token, default) or `basic` (Authorization header on every request). */
  auth?: "sso" | "basic";
  retry?: EngineRetryOptions;
  /** Default poll interval of the waits, ms. Default 2000. */
  pollIntervalMs?: number;
  /** Per-request header/body timeout, ms. Default 300000. */
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Receives one line per retry and re-login. Never sees credentials or tokens. */
  logger?: (line: string) => void;
  /** Revoke the SSO token on close() (default true; turn off when the token is shared). */
  logoutOnClose?: boolean;
}

export type QueryValue = string | number | boolean | undefined;

export interface EngineRequest {
  query?: Record<string, QueryValue>;
  /** JSON body; sent with `Content-Type: application/json`. */
  body?: unknown;
  /**
   * May be repeated safely: then 409 "locked / being transferred / during a backup", 502/503/504 and connection
   * failures are retried with backoff. Default: true for GET, false otherwise.
   */
  idempotent?: boolean;
  /** Extra request headers (e.g. the legacy `All-Content`). */
  headers?: Record<string, string>;
  /** For removals: a 404 on a retry means an earlier attempt already did it. */
  goneAfterRetryIsDone?: boolean;
  signal?: AbortSignal;
}

export interface EngineResponse {
  status: number;
  json: unknown;
}

/** 409 details the engine gives while another operation holds the entity (ref §1.4, §8.7). */
const TRANSIENT_CONFLICT = /\block(ed)?\b|being transferred|during a backup|in progress/i;
const TRANSIENT_STATUS = new Set([502, 503, 504]);

/**
 * The oVirt engine REST client (API v4, JSON): authentication, requests, fault mapping and retries. The service
 * areas hang off it in oVirt's own vocabulary: `engine.vms`, `engine.snapshots`, `engine.disks`, ...
 */
export class EngineClient {
  readonly baseUrl: string;
  readonly pollIntervalMs: number;
  readonly vms: Vms;
  readonly snapshots: Snapshots;
  readonly disks: Disks;
  readonly diskAttachments: DiskAttachments;
  readonly diskSnapshots: DiskSnapshots;
  readonly storageDomains: StorageDomains;
  readonly clusters: Clusters;
  readonly dataCenters: DataCenters;
  readonly imageTransfers: ImageTransfers;
  readonly backups: VmBackups;
  readonly checkpoints: Checkpoints;
  readonly events: Events;

  private readonly agent: Agent;
  private readonly basePath: string;
  private readonly origin: string;
  private token: string | undefined;
  private login: Promise<string> | undefined;
  private closed = false;

  constructor(private readonly opts: EngineClientOptions) {
    const url = new URL(opts.url);
    // Plain http would send the password in clear: only with an explicit `insecure`.
    if (url.protocol !== "https:" && !(opts.insecure && url.protocol === "http:"))
      throw new Error(`engine URL must be https, not ${url.protocol}`);
    let path = url.pathname.replace(/\/+$/, "");
    if (path === "") path = "/ovirt-engine/api";
    this.origin = url.origin;
    this.basePath = path;
    this.baseUrl = `${url.origin}${path}`;
    this.pollIntervalMs = opts.pollIntervalMs ?? 2000;
    this.agent = createAgent(opts, {
      connectTimeoutMs: opts.connectTimeoutMs,
      requestTimeoutMs: opts.requestTimeoutMs,
    });
    this.vms = new Vms(this);
    this.snapshots = new Snapshots(this);
    this.disks = new Disks(this);
    this.diskAttachments = new DiskAttachments(this);
    this.diskSnapshots = new DiskSnapshots(this);
    this.storageDomains = new StorageDomains(this);
    this.clusters = new Clusters(this);
    this.dataCenters = new DataCenters(this);
    this.imageTransfers = new ImageTransfers(this);
    this.backups = new VmBackups(this);
    this.checkpoints = new Checkpoints(this);
    this.events = new Events(this);
  }

  /** GET and validate: the typed entity or collection. */
  async get<S extends z.ZodType>(path: string, schema: S, req: EngineRequest = {}): Promise<z.output<S>> {
    const res = await this.request("GET", path, req);
    return this.parse(schema, res.json, "GET", path);
  }

  /** POST a body and validate the answer (add). */
  async post<S extends z.ZodType>(path: string, schema: S, req: EngineRequest = {}): Promise<z.output<S>> {
    const res = await this.request("POST", path, req);
    return this.parse(schema, res.json, "POST", path);
  }

  /** POST an action (`<entity>/<name>`); a nested `fault` or `status: failed` in the answer is an error. */
  async action(path: string, name: string, req: EngineRequest = {}): Promise<void> {
    const full = `${path}/${name}`;
    const res = await this.request("POST", full, { ...req, body: req.body ?? {} });
    const json = res.json as { status?: unknown; fault?: { reason?: unknown; detail?: unknown } } | undefined;
    if (json && typeof json === "object" && (json.fault || json.status === "failed")) {
      throw new EngineError({
        status: res.status,
        method: "POST",
        path: full,
        reason: str(json.fault?.reason) ?? "Action failed",
        detail: str(json.fault?.detail),
      });
    }
  }

  /** DELETE an entity. Retries when `idempotent` (a 404 on a retry then counts as done). */
  async remove(path: string, req: EngineRequest = {}): Promise<void> {
    await this.request("DELETE", path, { idempotent: true, goneAfterRetryIsDone: true, ...req });
  }

  /** One engine call with auth, fault mapping and (for idempotent calls) bounded retries. */
  async request(method: string, path: string, req: EngineRequest = {}): Promise<EngineResponse> {
    const idempotent = req.idempotent ?? method === "GET";
    const attempts = idempotent ? Math.max(1, this.opts.retry?.attempts ?? 6) : 1;
    const base = this.opts.retry?.baseDelayMs ?? 1000;
    const max = this.opts.retry?.maxDelayMs ?? 15_000;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.authenticated(method, path, req);
      } catch (e) {
        if (
          req.goneAfterRetryIsDone &&
          attempt > 0 &&
          e instanceof EngineError &&
          e.status === 404 &&
          !(e instanceof EngineAuthError)
        )
          return { status: 404, json: undefined };
        if (attempt + 1 >= attempts || !isRetryable(e)) throw e;
        const delay = backoffDelay(attempt, base, max);
        this.opts.logger?.(`engine: ${method} ${path}: ${(e as Error).message}; retry in ${delay} ms`);
        await sleep(delay, req.signal);
      }
    }
  }

  /** Validates an engine answer; a mismatch is an EngineError naming the call and the field. */
  parse<S extends z.ZodType>(schema: S, json: unknown, method: string, path: string): z.output<S> {
    const r = schema.safeParse(json ?? {});
    if (r.success) return r.data;
    throw new EngineError({
      status: 0,
      method,
      path,
      message: `unexpected engine answer to ${method} ${path}: ${describeIssues(r.error)}`,
    });
  }

  /** Closes the connections and (by default) revokes the SSO token. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const token = this.token;
    if (token && this.opts.logoutOnClose !== false) {
      try {
        const res = await request(this.ssoUrl("/services/sso-logout"), {
          method: "POST",
          dispatcher: this.agent,
          headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
          body: form({ scope: "ovirt-app-api", token }),
        });
        await res.body.dump();
      } catch {
        // Logout is a courtesy: the session times out on its own.
      }
    }
    this.token = undefined;
    await this.agent.close();
  }

  private async authenticated(method: string, path: string, req: EngineRequest): Promise<EngineResponse> {
    const sso = (this.opts.auth ?? "sso") === "sso";
    let authorization = sso ? `Bearer ${await this.accessToken(req.signal)}` : this.basicHeader();
    let res = await this.once(method, path, req, authorization);
    if (res.status === 401 && sso) {
      // No refresh token exists: log in again and retry once, as the SDK does (ref §2.2).
      this.invalidate(authorization.slice("Bearer ".length));
      this.opts.logger?.(`engine: ${method} ${path}: 401, logging in again`);
      authorization = `Bearer ${await this.accessToken(req.signal)}`;
      res = await this.once(method, path, req, authorization);
    }
    if (res.status >= 400) throw faultError(res, method, path);
    return { status: res.status, json: res.json };
  }

  private async once(
    method: string,
    path: string,
    req: EngineRequest,
    authorization: string,
  ): Promise<EngineResponse & { text: string; contentType: string }> {
    const headers: Record<string, string> = {
      ...req.headers,
      version: "4",
      accept: "application/json",
      authorization,
    };
    let body: string | undefined;
    if (req.body !== undefined) {
      body = JSON.stringify(req.body, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
      headers["content-type"] = "application/json";
    }
    const full = `${this.baseUrl}${path}${queryString(req.query)}`;
    let res: Awaited<ReturnType<typeof request>>;
    let text: string;
    try {
      res = await request(full, {
        method: method as Dispatcher.HttpMethod,
        headers,
        body,
        dispatcher: this.agent,
        signal: req.signal,
      });
      text = await res.body.text();
    } catch (e) {
      if (req.signal?.aborted) throw new AbortedError(req.signal.reason);
      throw new EngineError({
        status: 0,
        method,
        path: `${path}${queryString(req.query)}`,
        message: `engine ${method} ${path}: ${describeNetworkError(e)}`,
        cause: e,
      });
    }
    const contentType = String(res.headers["content-type"] ?? "");
    let json: unknown;
    if (text.trim() !== "" && /json/i.test(contentType)) {
      try {
        json = JSON.parse(text);
      } catch {
        if (res.statusCode < 400)
          throw new EngineError({
            status: res.statusCode,
            method,
            path,
            message: `engine ${method} ${path}: answer is not valid JSON`,
          });
      }
    }
    return { status: res.statusCode, json, text, contentType };
  }

  private basicHeader(): string {
    return `Basic ${Buffer.from(`${this.opts.username}:${this.opts.password}`, "utf8").toString("base64")}`;
  }

  private invalidate(token: string): void {
    if (this.token === token) this.token = undefined;
  }

  private async accessToken(signal: AbortSignal | undefined): Promise<string> {
    if (this.token) return this.token;
    // Concurrent callers share one login, so no caller's AbortSignal may cancel it for the others.
    if (signal?.aborted) throw new AbortedError(signal.reason);
    this.login ??= this.ssoLogin().finally(() => {
      this.login = undefined;
    });
    return this.login;
  }

  private ssoUrl(suffix: string): string {
    const prefix = this.basePath.replace(/\/api(\/v4)?$/, "");
    return `${this.origin}${prefix}${suffix}`;
  }

  /** OAuth password grant (ref §2.1); both error shapes become an EngineAuthError with the SSO's words. */
  private async ssoLogin(): Promise<string> {
    const path = "/sso/oauth/token";
    let status: number;
    let text: string;
    try {
      const res = await request(this.ssoUrl(path), {
        method: "POST",
        dispatcher: this.agent,
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: form({
          grant_type: "password",
          scope: "ovirt-app-api",
          username: this.opts.username,
          password: this.opts.password,
        }),
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (e) {
      throw new EngineError({
        status: 0,
        method: "POST",
        path,
        message: `engine SSO login: ${describeNetworkError(e)}`,
        cause: e,
      });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const obj = (Array.isArray(json) ? json[0] : json) as Record<string, unknown> | undefined;
    const token = obj && typeof obj === "object" ? str(obj.access_token) : undefined;
    if (status === 200 && token) {
      this.token = token;
      return token;
    }
    // `{"error_code": "access_denied", "error": "<text>"}` (ovirt-app-api) or `{"error": code, "error_description": text}`.
    const code = str(obj?.error_code) ?? (obj?.error_description !== undefined ? str(obj?.error) : undefined);
    const words = str(obj?.error_description) ?? str(obj?.error) ?? firstLine(text) ?? `HTTP ${status}`;
    throw new EngineAuthError({
      status,
      method: "POST",
      path,
      reason: code,
      detail: words,
      message: `engine SSO login failed: ${words}${code ? ` (${code})` : ""}`,
    });
  }
}

function isRetryable(e: unknown): boolean {
  if (!(e instanceof EngineError) || e instanceof EngineAuthError) return false;
  if (e.status === 0) return isTransientNetworkError(e.cause);
  if (TRANSIENT_STATUS.has(e.status)) return true;
  return e.status === 409 && TRANSIENT_CONFLICT.test(`${e.reason ?? ""} ${e.detail ?? ""}`);
}

function faultError(
  res: { status: number; json: unknown; text: string },
  method: string,
  path: string,
): EngineError {
  const j = res.json as Record<string, unknown> | undefined;
  const fault = (j && typeof j === "object" && (j.fault as Record<string, unknown>)) || j;
  let reason = fault && typeof fault === "object" ? str(fault.reason) : undefined;
  let detail = fault && typeof fault === "object" ? str(fault.detail) : undefined;
  if (!reason && !detail) {
    // No fault body (401, a proxy's HTML 502): keep the first line of what came back.
    reason = res.status === 401 ? "Unauthorized" : undefined;
    detail = firstLine(res.text.replace(/<[^>]*>/g, " "));
  }
  return new EngineError({ status: res.status, method, path, reason, detail });
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : typeof v === "number" ? String(v) : undefined;
}

function firstLine(text: string): string | undefined {
  const line = text
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l !== "");
  return line ? line.slice(0, 300) : undefined;
}

function form(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join("&");
}

/**
 * A correlation id the engine accepts: it refuses (400) anything but 1–50 of `a-z A-Z 0-9 - _`, so a job
 * reference such as "job 1b9e…" becomes "job-1b9e…", cut to 50 characters.
 */
export function correlationIdOf(text: string): string {
  const id = text
    .replace(/[^A-Za-z0-9_-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 50);
  return id === "" ? "lifeboat" : id;
}

/** `?a=b&c=d` with %20 for spaces (the engine's search syntax is sensitive to `+`). */
export function queryString(query: Record<string, QueryValue> | undefined): string {
  if (!query) return "";
  const parts = Object.entries(query)
    .filter((e): e is [string, string | number | boolean] => e[1] !== undefined)
    .map(([k, v]) => [k, k === "correlation_id" ? correlationIdOf(String(v)) : String(v)] as const)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  return parts.length ? `?${parts.join("&")}` : "";
}

/** A path segment from an id the caller gave (ids are UUIDs, but never trust input into a URL). */
export function seg(id: string): string {
  if (id === "") throw new Error("empty id");
  return encodeURIComponent(id);
}
