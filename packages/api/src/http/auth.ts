import { type Auth, clientIp } from "@lifeboat/auth";
import type { Db } from "@lifeboat/db";
import { malformedInput, recordAudit, recordDenial } from "@lifeboat/domain";

const SIGN_IN = /\/api\/auth\/sign-in\/email\/?$/;
const SIGN_OUT = /\/api\/auth\/sign-out\/?$/;

async function typedEmail(req: Request): Promise<string> {
  const body = (await req.json().catch(() => null)) as { email?: unknown } | null;
  return typeof body?.email === "string" ? body.email.trim().slice(0, 200) : "";
}

/** What is malformed in a JSON body (see `malformedInput`), or null; a body that is not JSON is better-auth's. */
async function malformedBody(req: Request): Promise<string | null> {
  if (!req.headers.get("content-type")?.includes("json")) return null;
  return malformedInput(await req.json().catch(() => undefined));
}

/**
 * /api/auth over HTTP: better-auth's handler, plus the audit rows better-auth's hooks cannot write — sign-ins
 * refused with 429 (by its IP rate limit, which answers before any hook, or by the account lockout) and
 * sign-outs (the session is gone by the time a hook runs). A body with a NUL or a lone surrogate (which
 * PostgreSQL cannot compare with anything) is answered 400 here, and counted like any call without a session.
 */
export async function handleAuthRequest(req: Request, opts: { auth: Auth; db: Db }): Promise<Response> {
  const path = new URL(req.url).pathname;
  const post = req.method === "POST";
  const malformed = post ? await malformedBody(req.clone()) : null;
  if (malformed) {
    await recordDenial(opts.db, {
      action: SIGN_IN.test(path) ? "auth.sign-in" : "auth.request",
      outcome: "failure",
      ip: clientIp(req.headers),
      userAgent: req.headers.get("user-agent"),
      details: { path: path.slice(0, 200), error: malformed },
    });
    return Response.json({ message: malformed, code: "BAD_REQUEST" }, { status: 400 });
  }
  const signIn = post && SIGN_IN.test(path) ? req.clone() : null;
  const signOut =
    post && SIGN_OUT.test(path) ? await opts.auth.api.getSession({ headers: req.headers }) : null;
  const res = await opts.auth.handler(req);
  const ip = clientIp(req.headers);
  const userAgent = req.headers.get("user-agent");
  if (signIn && res.status === 429) {
    const email = await typedEmail(signIn);
    const known = email ? await opts.db.user.findUnique({ where: { email: email.toLowerCase() } }) : null;
    await recordAudit(opts.db, {
      action: "auth.sign-in",
      outcome: "denied",
      actorId: known?.id ?? null,
      actorName: known?.name ?? null,
      actorEmail: email || null,
      ip,
      userAgent,
      details: { method: "password", reason: "rate limited" },
    });
  }
  if (signOut && res.ok)
    await recordAudit(opts.db, {
      action: "auth.sign-out",
      outcome: "success",
      actorId: signOut.user.id,
      actorName: signOut.user.name,
      actorEmail: signOut.user.email,
      ip,
      userAgent,
    });
  return res;
}
