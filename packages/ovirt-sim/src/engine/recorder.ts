import type { IncomingMessage } from "node:http";

/** One request the engine port received, as a test inspects it. */
export interface EngineRequestRecord {
  /** `api` (below `/ovirt-engine/api`), `sso` (the token endpoints), `logout`, or `other`. */
  kind: "api" | "sso" | "logout" | "other";
  method: string;
  /** Below the API base for `api` (`/vms`), else the full path. */
  path: string;
  query: URLSearchParams;
  /** The query string as sent (`?a=b`, "" without one): how it was encoded. */
  rawQuery: string;
  headers: Record<string, string | string[] | undefined>;
  /** The body as sent, once the engine read it ("" when it did not: 401, 404, 405 …). */
  body: string;
}

const API_PREFIXES = ["/ovirt-engine/api/v4", "/ovirt-engine/api"];

/**
 * Test inspection of the engine port: what each request asked for, headers and body included. Off until a
 * test turns it on (`recordEngine` of `@lifeboat/ovirt-sim/testing`), so a long-running simulator keeps nothing.
 */
export class EngineRecorder {
  enabled = false;
  readonly requests: EngineRequestRecord[] = [];
  private readonly byRequest = new WeakMap<IncomingMessage, EngineRequestRecord>();

  /** Called first for every request. */
  start(req: IncomingMessage): void {
    if (!this.enabled) return;
    const url = new URL(req.url ?? "/", "http://engine");
    const p = url.pathname;
    const prefix = API_PREFIXES.find((x) => p === x || p.startsWith(`${x}/`));
    const kind = prefix
      ? "api"
      : p.startsWith("/ovirt-engine/sso/oauth/token")
        ? "sso"
        : p === "/ovirt-engine/services/sso-logout"
          ? "logout"
          : "other";
    const rec: EngineRequestRecord = {
      kind,
      method: (req.method ?? "GET").toUpperCase(),
      path: prefix ? p.slice(prefix.length) || "/" : p,
      query: url.searchParams,
      rawQuery: url.search,
      headers: { ...req.headers },
      body: "",
    };
    this.requests.push(rec);
    this.byRequest.set(req, rec);
  }

  /** The body the engine read (called where it reads one). */
  body(req: IncomingMessage, raw: Buffer): void {
    const rec = this.byRequest.get(req);
    if (rec) rec.body = raw.toString("utf8");
  }

  /** API requests of `method path` (path below the API base). */
  calls(method: string, path: string): number {
    return this.requests.filter((r) => r.kind === "api" && r.method === method && r.path === path).length;
  }

  clear(): void {
    this.requests.length = 0;
  }
}
