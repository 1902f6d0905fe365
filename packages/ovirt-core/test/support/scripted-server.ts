import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { TestPki } from "./pki";

/**
 * The one hand-written double of ovirt-core's tests: an HTTPS server that answers what each test scripts, for
 * answers neither the simulator nor a real engine or daemon gives on its own, and for assertions on the exact
 * bytes a client sent where the simulator's inspection hooks do not reach. Everything else runs against
 * `@lifeboat/ovirt-sim` (see its `testing` export). Used by:
 *
 * - engine-client-scripted.test.ts: answers the simulated engine never gives (tokens in one-element arrays,
 *   OAuth-shaped SSO errors, a nested fault in a 200, a proxy's HTML 502 page, connection resets, integers
 *   beyond 2^53 as strings and as JSON numbers, `{}` collections and "TRUE" booleans, an entity without an
 *   id). The rest of the engine client's tests run on the simulator (engine-client.test.ts).
 * - imageio-download.test.ts, "fails at once on 416 when the extents reach past the ticket" and "refuses
 *   malformed extents": extents no daemon sends (past the ticket size, with a gap), on purpose.
 *
 * SSO token endpoint, Bearer/Basic auth with 401 for unknown tokens, per-test routes below the API base
 * (`route`) and on any other path without auth (`routeRaw`). Routes are written by the tests from the
 * reference, not from a client library.
 */
export interface RecordedRequest {
  method: string;
  /** Path below `/ovirt-engine/api` (or the full path for SSO). */
  path: string;
  query: URLSearchParams;
  /** The query string as sent (`?a=b`). */
  rawQuery: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json?: unknown;
}

export interface Reply {
  status?: number;
  json?: unknown;
  /** Raw body (with `contentType`, default text/html). */
  text?: string;
  contentType?: string;
  /** Raw bytes (application/octet-stream unless `contentType`). */
  bytes?: Buffer;
  headers?: Record<string, string>;
  /** Drop the connection without answering. */
  reset?: boolean;
}

export type Handler = (req: RecordedRequest) => Reply | Promise<Reply>;

interface Route {
  method: string;
  path: string | RegExp;
  replies: Array<Reply | Handler>;
  calls: number;
}

export interface ScriptedServerOptions {
  username?: string;
  password?: string;
  /** Shape of SSO errors: oVirt's `ovirt-app-api` one (`error_code` + `error`) or standard OAuth. */
  ssoErrorShape?: "ovirt" | "oauth";
  /** Answer the token as a one-element array (tolerated by the SDK). */
  tokenAsArray?: boolean;
}

export class ScriptedServer {
  readonly requests: RecordedRequest[] = [];
  readonly ssoRequests: RecordedRequest[] = [];
  readonly logoutRequests: RecordedRequest[] = [];
  /** Requests outside the engine's paths (`routeRaw`), with their full path. */
  readonly rawRequests: RecordedRequest[] = [];
  private readonly routes: Route[] = [];
  private readonly rawRoutes: Route[] = [];
  private readonly tokens = new Set<string>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly opts: Required<ScriptedServerOptions>,
  ) {}

  static async start(pki: TestPki, options: ScriptedServerOptions = {}): Promise<ScriptedServer> {
    const opts: Required<ScriptedServerOptions> = {
      username: "admin@internal",
      password: "s3cret&=x",
      ssoErrorShape: "ovirt",
      tokenAsArray: false,
      ...options,
    };
    const server = createServer({ cert: pki.certPem, key: pki.keyPem });
    const s = new ScriptedServer(server, opts);
    server.on("request", (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const url = new URL(req.url ?? "/", "https://engine");
        const body = Buffer.concat(chunks).toString("utf8");
        let json: unknown;
        try {
          json = body ? JSON.parse(body) : undefined;
        } catch {
          json = undefined;
        }
        const rec: RecordedRequest = {
          method: req.method ?? "GET",
          path: url.pathname,
          query: url.searchParams,
          rawQuery: url.search,
          headers: req.headers,
          body,
          json,
        };
        s.handle(rec)
          .then((reply) => {
            if (reply.reset) {
              req.socket.destroy();
              return;
            }
            const status = reply.status ?? 200;
            const extra = reply.headers ?? {};
            if (reply.json !== undefined) {
              res.writeHead(status, { "content-type": "application/json;charset=UTF-8", ...extra });
              res.end(JSON.stringify(reply.json));
            } else if (reply.text !== undefined) {
              res.writeHead(status, {
                "content-type": reply.contentType ?? "text/html;charset=UTF-8",
                ...extra,
              });
              res.end(reply.text);
            } else if (reply.bytes !== undefined) {
              res.writeHead(status, {
                "content-type": reply.contentType ?? "application/octet-stream",
                "content-length": reply.bytes.length,
                ...extra,
              });
              res.end(reply.bytes);
            } else {
              res.writeHead(status, { "content-length": "0", ...extra });
              res.end();
            }
          })
          .catch((e: unknown) => {
            res.writeHead(599, { "content-type": "text/plain" });
            res.end(`test server handler failed: ${String(e)}`);
          });
      });
    });
    server.on("connection", (sock: Socket) => {
      s.sockets.add(sock);
      sock.on("close", () => s.sockets.delete(sock));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return s;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The API base URL. */
  get url(): string {
    return `https://127.0.0.1:${this.port}/ovirt-engine/api`;
  }

  /**
   * Answers `method path` (path below the API base, exact or a RegExp) with the replies in turn; the last one
   * repeats.
   */
  route(method: string, path: string | RegExp, ...replies: Array<Reply | Handler>): void {
    this.routes.unshift({ method, path, replies, calls: 0 });
  }

  /** Answers `method path` on any path outside the engine's (full path, exact or a RegExp), without auth. */
  routeRaw(method: string, path: string | RegExp, ...replies: Array<Reply | Handler>): void {
    this.rawRoutes.unshift({ method, path, replies, calls: 0 });
  }

  /** How often a route was hit. */
  calls(method: string, path: string): number {
    return this.requests.filter((r) => r.method === method && r.path === path).length;
  }

  /** Forgets every issued token: the next API call gets 401, as after an SSO session timeout. */
  expireTokens(): void {
    this.tokens.clear();
  }

  async close(): Promise<void> {
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: RecordedRequest): Promise<Reply> {
    if (req.path === "/ovirt-engine/sso/oauth/token") return this.token(req);
    if (req.path === "/ovirt-engine/services/sso-logout") {
      this.logoutRequests.push(req);
      const token = new URLSearchParams(req.body).get("token");
      if (token) this.tokens.delete(token);
      return { json: {} };
    }
    const prefix = "/ovirt-engine/api";
    if (!req.path.startsWith(prefix)) {
      this.rawRequests.push(req);
      const raw = findRoute(this.rawRoutes, req);
      return raw ? answer(raw, req) : { status: 404, text: "<html><body>Not Found</body></html>" };
    }
    const apiReq = { ...req, path: req.path.slice(prefix.length) || "/" };
    this.requests.push(apiReq);
    if (!this.authorized(req)) return { status: 401, text: "" };
    const route = findRoute(this.routes, apiReq);
    if (!route)
      return {
        status: 404,
        json: { reason: "Operation Failed", detail: `Entity not found: ${apiReq.method} ${apiReq.path}` },
      };
    return answer(route, apiReq);
  }

  private authorized(req: RecordedRequest): boolean {
    const auth = String(req.headers.authorization ?? "");
    if (auth.startsWith("Bearer ")) return this.tokens.has(auth.slice(7));
    if (auth.startsWith("Basic ")) {
      const [user, ...rest] = Buffer.from(auth.slice(6), "base64").toString("utf8").split(":");
      return user === this.opts.username && rest.join(":") === this.opts.password;
    }
    return false;
  }

  private token(req: RecordedRequest): Reply {
    this.ssoRequests.push(req);
    const form = new URLSearchParams(req.body);
    const fail = (code: string, text: string): Reply =>
      this.opts.ssoErrorShape === "ovirt"
        ? { status: 400, json: { error_code: code, error: text } }
        : { status: 400, json: { error: code, error_description: text } };
    if (req.method !== "POST") return fail("invalid_request", "POST required");
    if (form.get("grant_type") !== "password")
      return fail("unsupported_grant_type", "Unsupported grant type");
    if (form.get("scope") !== "ovirt-app-api") return fail("invalid_scope", "The scope is not valid");
    if (form.get("username") !== this.opts.username || form.get("password") !== this.opts.password)
      return fail(
        "access_denied",
        `Cannot authenticate user '${form.get("username")}': The username or password is incorrect.`,
      );
    const token = randomBytes(24).toString("base64url");
    this.tokens.add(token);
    const body = {
      access_token: token,
      token_type: "bearer",
      scope: "ovirt-app-api ovirt-ext=token-info:authz-search",
      exp: String(Date.now() + 3_600_000),
    };
    return { json: this.opts.tokenAsArray ? [body] : body };
  }
}

function findRoute(routes: Route[], req: RecordedRequest): Route | undefined {
  return routes.find(
    (r) =>
      r.method === req.method && (typeof r.path === "string" ? r.path === req.path : r.path.test(req.path)),
  );
}

function answer(route: Route, req: RecordedRequest): Reply | Promise<Reply> {
  const reply = route.replies[Math.min(route.calls, route.replies.length - 1)];
  route.calls++;
  if (!reply) return { status: 500, json: { reason: "test route without reply" } };
  return typeof reply === "function" ? reply(req) : reply;
}
