import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import type { Engine } from "./engine/engine";
import { EngineFault } from "./engine/faults";
import { faultSpecSchema } from "./faults";
import { BodyTooLarge, readBody, sendEmpty, sendJson } from "./http";

export const ADMIN_PREFIX = "/ovirt-sim/admin";

export const guestWriteSchema = z.object({
  vm: z.string().min(1),
  mib: z
    .number()
    .int()
    .positive()
    .max(1024 * 1024),
  seed: z.number().int().optional(),
  diskId: z.string().optional(),
});

function tokenOk(req: IncomingMessage, token: string): boolean {
  const m = /^bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ""));
  if (!m) return false;
  const a = Buffer.from(m[1] as string);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The simulator's own admin API on the engine port (`/ovirt-sim/admin/...`, `Authorization: Bearer <token>`
 * from `<data>/sim.json`): guest writes through the running simulator and runtime fault injection.
 */
export function createAdminHandler(engine: Engine, token: string) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    if (!url.pathname.startsWith(`${ADMIN_PREFIX}/`) && url.pathname !== ADMIN_PREFIX) return false;
    if (!tokenOk(req, token)) {
      req.resume();
      sendJson(res, 401, { error: "admin token required" });
      return true;
    }
    const path = url.pathname.slice(ADMIN_PREFIX.length);
    const method = (req.method ?? "GET").toUpperCase();
    try {
      const body = async (): Promise<unknown> => {
        const raw = await readBody(req, 1024 * 1024);
        return raw.length ? JSON.parse(raw.toString("utf8")) : {};
      };
      if (path === "/status" && method === "GET") {
        sendJson(res, 200, { pid: process.pid, vms: engine.data.vms.map((v) => v.name) });
      } else if (path === "/guest/write" && method === "POST") {
        const p = guestWriteSchema.parse(await body());
        sendJson(res, 200, await engine.guestWrite(p.vm, p.mib, { seed: p.seed, diskId: p.diskId }));
      } else if (path === "/faults" && method === "GET") {
        sendJson(res, 200, { faults: engine.faults.list() });
      } else if (path === "/faults" && method === "POST") {
        const h = engine.faults.add(faultSpecSchema.parse(await body()));
        sendJson(res, 201, { id: h.id });
      } else if (path === "/faults" && method === "DELETE") {
        engine.faults.clear();
        sendEmpty(res, 204);
      } else if (path.startsWith("/faults/") && method === "DELETE") {
        const found = engine.faults.remove(decodeURIComponent(path.slice("/faults/".length)));
        sendEmpty(res, found ? 204 : 404);
      } else {
        req.resume();
        sendJson(res, 404, { error: `no admin resource ${method} ${url.pathname}` });
      }
    } catch (e) {
      if (e instanceof z.ZodError)
        sendJson(res, 400, { error: e.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") });
      else if (e instanceof SyntaxError || e instanceof BodyTooLarge)
        sendJson(res, 400, { error: e.message });
      else if (e instanceof EngineFault) sendJson(res, e.status, { error: e.detail });
      else sendJson(res, 500, { error: (e as Error).message });
    }
    return true;
  };
}
