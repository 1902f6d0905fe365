import type { IncomingMessage, ServerResponse } from "node:http";
import { BodyTooLarge, queryOf, readBody, sendEmpty, sendJson, sleep } from "../http";
import type { AuthService } from "./auth";
import type { Engine } from "./engine";
import { EngineFault } from "./faults";
import { faultJson } from "./json";
import type { EngineRecorder } from "./recorder";
import { matchRoute } from "./routes";

const API_PREFIXES = ["/ovirt-engine/api/v4", "/ovirt-engine/api"];
const BODY_LIMIT = 32 * 1024 * 1024;

export interface EngineHttpDeps {
  engine: Engine;
  auth: AuthService;
  caPem: string;
  /** Handles `/ovirt-sim/...` (admin) requests; returns false when the path is not its own. */
  admin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  /** Test inspection of requests (inert unless enabled). */
  recorder?: EngineRecorder;
}

function fault(res: ServerResponse, status: number, reason: string, detail: string): void {
  sendJson(res, status, faultJson(reason, detail));
}

/** The engine's HTTP front: SSO, the CA download, the JSON API and (delegated) the simulator's admin API. */
export function createEngineHandler(deps: EngineHttpDeps) {
  const { engine, auth } = deps;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://engine");
    const path = url.pathname;
    deps.recorder?.start(req);
    try {
      if (await deps.admin(req, res, url)) return;
      if (path === "/ovirt-engine/services/pki-resource") {
        const q = queryOf(url);
        if (q.resource !== "ca-certificate") return sendEmpty(res, 404);
        const body = Buffer.from(deps.caPem);
        res.writeHead(200, { "content-type": "application/x-x509-ca-cert", "content-length": body.length });
        res.end(body);
        return;
      }
      if (path === "/ovirt-engine/sso/oauth/token" || path === "/ovirt-engine/sso/oauth/token-http-auth") {
        if (req.method !== "POST") return sendEmpty(res, 405, { allow: "POST" });
        const failure = engine.faults.takeFailure("sso.token");
        const delay = engine.faults.latencyFor("engine", "sso.token");
        if (delay) await sleep(delay);
        if (failure)
          return sendJson(res, failure.status, {
            error_code: "server_error",
            error: failure.detail ?? "Internal error",
          });
        const rawForm = await readBody(req, 64 * 1024);
        deps.recorder?.body(req, rawForm);
        const answer = auth.token(new URLSearchParams(rawForm.toString("utf8")));
        return sendJson(res, answer.status, answer.body);
      }
      if (path === "/ovirt-engine/services/sso-logout") {
        const rawForm = await readBody(req, 64 * 1024);
        deps.recorder?.body(req, rawForm);
        return sendJson(res, 200, auth.revoke(new URLSearchParams(rawForm.toString("utf8")).get("token")));
      }
      const prefix = API_PREFIXES.find((p) => path === p || path.startsWith(`${p}/`));
      if (!prefix) return sendEmpty(res, 404);
      const sub = path.slice(prefix.length);
      const who = auth.authenticate(req);
      if (!who) {
        req.resume();
        return sendEmpty(res, 401, { "www-authenticate": 'Basic realm="RESTAPI"' });
      }
      if (who.setCookie) res.setHeader("set-cookie", who.setCookie);
      // The real engine answers XML unless JSON is asked for; the simulator speaks JSON only.
      if (!/json/i.test(String(req.headers.accept ?? ""))) {
        req.resume();
        res.writeHead(406, { "content-type": "text/plain; charset=UTF-8" });
        res.end("The simulated engine answers JSON only: send 'Accept: application/json'.\n");
        return;
      }
      const method = (req.method ?? "GET").toUpperCase();
      const m = matchRoute(method, sub);
      if (!m) {
        req.resume();
        return fault(res, 404, "Not Found", `No resource at ${path}`);
      }
      if ("allowed" in m) {
        req.resume();
        return sendEmpty(res, 405, { allow: m.allowed.join(",") });
      }
      const raw = await readBody(req, BODY_LIMIT);
      deps.recorder?.body(req, raw);
      let body: Record<string, unknown> = {};
      if (raw.length > 0) {
        if (!/json/i.test(String(req.headers["content-type"] ?? "")))
          return fault(
            res,
            415,
            "Unsupported Media Type",
            `Content-Type '${req.headers["content-type"] ?? ""}' is not supported; send application/json`,
          );
        try {
          const parsed: unknown = JSON.parse(raw.toString("utf8"));
          if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
            throw new Error("expected a JSON object");
          body = parsed as Record<string, unknown>;
        } catch (e) {
          return fault(res, 400, "Bad Request", `Cannot parse the request body: ${(e as Error).message}`);
        }
      }
      const op = m.route.op;
      const delay = engine.faults.latencyFor("engine", op);
      if (delay) await sleep(delay);
      const injected = engine.faults.takeFailure(op);
      if (injected) {
        const text =
          injected.detail ??
          (injected.status >= 500 ? "Internal Engine Error" : `Cannot perform ${op} (injected fault)`);
        return fault(res, injected.status, "Operation Failed", `[${text}]`);
      }
      const q = queryOf(url);
      // The engine validates correlation ids on every action and query (javax @Pattern + @Size on the params).
      if (q.correlation_id !== undefined) {
        if (!/^[A-Za-z0-9_-]*$/.test(q.correlation_id))
          return fault(
            res,
            400,
            "Operation Failed",
            '[The correlation ID must be formed of "a-z0-9A-Z" or "-_"]',
          );
        if (q.correlation_id.length < 1 || q.correlation_id.length > 50)
          return fault(res, 400, "Operation Failed", "[The correlation ID size must be between 1 and 50]");
      }
      const allContent =
        /^true$/i.test(q.all_content ?? "") || /^true$/i.test(String(req.headers["all-content"] ?? ""));
      const result = await m.route.handler(engine, {
        params: m.params,
        query: q,
        body,
        allContent,
        correlationId: q.correlation_id,
      });
      if (result.body === undefined) return sendEmpty(res, result.status);
      sendJson(res, result.status, result.body, result.location ? { location: result.location } : {});
    } catch (e) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof EngineFault) return fault(res, e.status, e.reason, e.detail);
      if (e instanceof BodyTooLarge) return fault(res, 413, "Request Entity Too Large", e.message);
      engine.event("error", 10803, `Internal error serving ${req.method} ${path}: ${(e as Error).message}`);
      fault(res, 500, "Operation Failed", "[Internal Engine Error]");
    }
  };
}
