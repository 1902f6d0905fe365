import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody } from "../http";
import { parseTicketSpec, TicketError, type TicketRegistry } from "./tickets";

function text(res: ServerResponse, status: number, message: string): void {
  const body = Buffer.from(`${message}\n`);
  res.writeHead(status, { "content-type": "text/plain; charset=UTF-8", "content-length": body.length });
  res.end(body);
}

/**
 * The daemon's control API (ovirt-protocol.md §5.9): `PUT/GET/PATCH/DELETE /tickets/<id>`, `DELETE /tickets/`.
 * Served on a unix socket in the data dir, as vdsm reaches the daemon.
 */
export function createControlHandler(tickets: TicketRegistry) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://control");
    const m = /^\/tickets\/(.*)$/.exec(url.pathname);
    if (!m) return text(res, 404, `No handler for ${url.pathname}`);
    const id = decodeURIComponent(m[1] ?? "");
    const method = (req.method ?? "GET").toUpperCase();
    try {
      if (id === "") {
        if (method !== "DELETE") return text(res, 405, `Method not allowed: ${method}`);
        tickets.clear();
        res.writeHead(204);
        res.end();
        return;
      }
      if (method === "PUT") {
        let json: unknown;
        try {
          json = JSON.parse((await readBody(req, 1024 * 1024)).toString("utf8"));
        } catch {
          return text(res, 400, "Invalid ticket: cannot parse JSON");
        }
        tickets.add(parseTicketSpec(json, id));
        res.writeHead(200, { "content-length": 0 });
        res.end();
        return;
      }
      if (method === "GET") {
        const t = tickets.get(id);
        if (!t) return text(res, 404, `No such ticket: ${id}`);
        const body = Buffer.from(JSON.stringify(t.status()));
        res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
        res.end(body);
        return;
      }
      if (method === "PATCH") {
        const t = tickets.get(id);
        let json: unknown;
        try {
          json = JSON.parse((await readBody(req, 64 * 1024)).toString("utf8"));
        } catch {
          return text(res, 400, "Invalid patch request: cannot parse JSON");
        }
        if (!t) return text(res, 404, `No such ticket: ${id}`);
        const timeout = (json as Record<string, unknown> | null)?.timeout;
        if (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout < 0)
          return text(res, 400, `Invalid patch request: invalid timeout ${JSON.stringify(timeout)}`);
        t.extend(timeout);
        res.writeHead(200, { "content-length": 0 });
        res.end();
        return;
      }
      if (method === "DELETE") {
        if (!(await tickets.remove(id))) return text(res, 409, `Timeout cancelling transfer ${id}`);
        res.writeHead(204);
        res.end();
        return;
      }
      return text(res, 405, `Method not allowed: ${method}`);
    } catch (e) {
      if (e instanceof TicketError) return text(res, e.status, e.message);
      return text(res, 500, "Server failed to perform the request, check logs");
    }
  };
}
