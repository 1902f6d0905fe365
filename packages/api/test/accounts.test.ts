import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  createAuth,
  OIDC_PROVIDER_ID,
  oidcFromEnv,
  passwordWeakness,
  temporaryPassword,
} from "@lifeboat/auth";
import { resetServerEnvCache, serverEnv } from "@lifeboat/config";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { stopBosses } from "@lifeboat/jobs";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestApi } from "../src/testing";

let t: TestDatabase;
let api: ReturnType<typeof createTestApi>;
let adminHeaders: Headers;

const ORIGIN = "http://localhost:3000";
const codeOf = (e: unknown) => (e instanceof TRPCError ? e.code : String(e));

/** A request to better-auth's HTTP handler, as the browser sends it. */
function authRequest(
  path: string,
  init: { method?: string; body?: unknown; cookie?: string; ip?: string } = {},
) {
  const headers = new Headers({
    origin: ORIGIN,
    "user-agent": "accounts-test",
    "x-lifeboat-client-ip": init.ip ?? "198.51.100.9",
  });
  if (init.body !== undefined) headers.set("content-type", "application/json");
  if (init.cookie) headers.set("cookie", init.cookie);
  return new Request(`${ORIGIN}/api/auth${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

const cookiesOf = (res: Response) =>
  res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  api = createTestApi(t.db, t.url);
  const admin = await api.createUser({ email: "root@accounts.test", role: "admin", name: "Root" });
  adminHeaders = await api.signIn(admin.email, admin.password);
});
afterAll(async () => {
  await stopBosses();
  await t.drop();
});

describe("admin-created accounts", () => {
  it("get a temporary password and must choose their own before anything else", async () => {
    const admin = await api.caller(adminHeaders);
    const created = await admin.users.create({ email: "Ada@Accounts.Test", name: "Ada" });
    expect(created.user).toMatchObject({
      email: "ada@accounts.test",
      mustChangePassword: true,
      hasPassword: true,
    });
    const temp = created.temporaryPassword ?? "";
    expect(temp.length).toBeGreaterThanOrEqual(16);
    const account = await t.db.account.findFirstOrThrow({ where: { userId: created.user.id } });
    expect(account.password).toMatch(/^\$argon2id\$/);

    const team = await admin.teams.create({ name: "Ada's team", adminEmail: "ada@accounts.test" });
    const ada = await api.caller(await api.signIn("ada@accounts.test", temp));
    expect((await ada.me.get()).mustChangePassword).toBe(true);
    const refused = await ada.teams.get({ teamId: team.id }).catch((e) => e);
    expect(codeOf(refused)).toBe("FORBIDDEN");
    expect((refused as Error).message).toMatch(/new password/);

    // The password change goes through better-auth's own endpoint.
    const signIn = await api.auth.handler(
      authRequest("/sign-in/email", { body: { email: "ada@accounts.test", password: temp } }),
    );
    const cookie = cookiesOf(signIn);
    const same = await api.auth.handler(
      authRequest("/change-password", { body: { currentPassword: temp, newPassword: temp }, cookie }),
    );
    expect(same.status).toBe(400);
    const wrong = await api.auth.handler(
      authRequest("/change-password", {
        body: { currentPassword: "not-the-temp-one", newPassword: "ada-chose-this-one" },
        cookie,
      }),
    );
    expect(wrong.status).toBe(400);
    // A weak new password is refused before the current one is even checked, and says why.
    const common = await api.auth.handler(
      authRequest("/change-password", {
        body: { currentPassword: temp, newPassword: "password123" },
        cookie,
      }),
    );
    expect(common.status).toBe(400);
    expect(await common.json()).toMatchObject({
      code: "PASSWORD_TOO_WEAK",
      message: expect.stringMatching(/^This password is among the most common ones\./),
    });
    expect((await t.db.user.findUniqueOrThrow({ where: { id: created.user.id } })).mustChangePassword).toBe(
      true,
    );
    const changed = await api.auth.handler(
      authRequest("/change-password", {
        body: { currentPassword: temp, newPassword: "ada-chose-this-one", revokeOtherSessions: true },
        cookie,
      }),
    );
    expect(changed.status).toBe(200);
    expect((await t.db.user.findUniqueOrThrow({ where: { id: created.user.id } })).mustChangePassword).toBe(
      false,
    );
    const audit = await t.db.auditEvent.findMany({
      where: { action: "account.change-password", actorId: created.user.id },
      orderBy: { at: "asc" },
    });
    expect(audit.map((a) => a.outcome)).toEqual(["failure", "failure", "success"]);
    expect(audit[1]).toMatchObject({
      ip: "198.51.100.9",
      userAgent: "accounts-test",
      details: { reason: "weak password", error: expect.stringMatching(/most common ones/) },
    });
    expect(audit[2]).toMatchObject({ ip: "198.51.100.9", userAgent: "accounts-test" });
    expect(JSON.stringify(audit)).not.toContain("ada-chose-this-one");

    await expect(api.signIn("ada@accounts.test", temp)).rejects.toThrow(/401/);
    const fresh = await api.caller(await api.signIn("ada@accounts.test", "ada-chose-this-one"));
    expect((await fresh.teams.get({ teamId: team.id })).myRole).toBe("admin");
  });

  it("refuses every chosen password the strength estimator finds weak, naming why", async () => {
    const u = await api.createUser({ email: "gus.grant@accounts.test", name: "Gus Grant" });
    const signIn = await api.auth.handler(
      authRequest("/sign-in/email", { body: { email: u.email, password: u.password } }),
    );
    const change = (newPassword: string) =>
      api.auth.handler(
        authRequest("/change-password", {
          body: { currentPassword: u.password, newPassword },
          cookie: cookiesOf(signIn),
        }),
      );
    const refusal = async (res: Response) => {
      expect(res.status).toBe(400);
      return ((await res.json()) as { message: string }).message;
    };
    expect(await refusal(await change("qwertyuiop"))).toMatch(
      /^This password is among the hundred most common/,
    );
    expect(await refusal(await change("Gus Grant 1234"))).toMatch(
      /^This password contains the account's e-mail or name/,
    );
    expect(await refusal(await change("aaaaaaaaaaaa"))).toMatch(/Repeated characters/);
    const signedOut = await api.auth.handler(
      authRequest("/change-password", { body: { currentPassword: u.password, newPassword: "password1234" } }),
    );
    expect(signedOut.status).toBe(401);
    // Shorter than the minimum: better-auth's own answer, which says so plainly.
    expect(await (await change("short")).json()).toMatchObject({ code: "PASSWORD_TOO_SHORT" });

    // Server-side account creation and an admin's password change go through the same check.
    const created = api.auth.api.createUser({
      body: { email: "hal@accounts.test", password: "letmein12345", name: "Hal", role: "user" },
    });
    await expect(created).rejects.toThrow(/close to one of the most common ones/);
    expect(await t.db.user.count({ where: { email: "hal@accounts.test" } })).toBe(0);
    await expect(
      api.auth.api.setUserPassword({
        body: { userId: u.id, newPassword: "password1234" },
        headers: adminHeaders,
      }),
    ).rejects.toThrow(/most common ones/);
    expect((await change("gus-picked-a-long-one")).status).toBe(200);
  });

  it("hands out temporary passwords the strength estimator accepts", async () => {
    for (let i = 0; i < 50; i++) expect(await passwordWeakness(temporaryPassword())).toBeNull();
  });

  it("a password reset ends the sessions and asks for a new password again", async () => {
    const admin = await api.caller(adminHeaders);
    const { user, temporaryPassword } = await admin.users.create({ email: "bob@accounts.test", name: "Bob" });
    const bobHeaders = await api.signIn(user.email, temporaryPassword ?? "");
    const reset = await admin.users.resetPassword({ userId: user.id });
    expect(reset.temporaryPassword).not.toBe(temporaryPassword);
    expect(codeOf(await (await api.caller(bobHeaders)).me.get().catch((e) => e))).toBe("UNAUTHORIZED");
    await expect(api.signIn(user.email, temporaryPassword ?? "")).rejects.toThrow(/401/);
    const again = await api.caller(await api.signIn(user.email, reset.temporaryPassword));
    expect((await again.me.get()).mustChangePassword).toBe(true);
  });

  it("disabling an account ends its sessions and refuses its sign-in; admins cannot lock themselves out", async () => {
    const admin = await api.caller(adminHeaders);
    const { user, temporaryPassword } = await admin.users.create({
      email: "carol@accounts.test",
      name: "Carol",
    });
    const carolHeaders = await api.signIn(user.email, temporaryPassword ?? "");
    expect((await admin.users.update({ userId: user.id, disabled: true })).disabled).toBe(true);
    expect(codeOf(await (await api.caller(carolHeaders)).me.get().catch((e) => e))).toBe("UNAUTHORIZED");
    await expect(api.signIn(user.email, temporaryPassword ?? "")).rejects.toThrow(/403|401/);
    const me = await admin.me.get();
    expect(codeOf(await admin.users.update({ userId: me.id, siteAdmin: false }).catch((e) => e))).toBe(
      "BAD_REQUEST",
    );
    expect(codeOf(await admin.users.update({ userId: me.id, disabled: true }).catch((e) => e))).toBe(
      "BAD_REQUEST",
    );
  });

  it("an account created for OIDC only has no password to sign in with", async () => {
    const admin = await api.caller(adminHeaders);
    const res = await admin.users.create({ email: "dora@accounts.test", name: "Dora", password: "none" });
    expect(res.temporaryPassword).toBeNull();
    expect(res.user).toMatchObject({ hasPassword: false, mustChangePassword: false });
    expect(await t.db.account.count({ where: { userId: res.user.id } })).toBe(0);
  });

  it("refuses a second account with the same e-mail", async () => {
    const admin = await api.caller(adminHeaders);
    const err = await admin.users.create({ email: "ada@accounts.test", name: "Ada 2" }).catch((e) => e);
    expect(codeOf(err)).toBe("CONFLICT");
  });
});

describe("sessions and sign-in over HTTP", () => {
  it("writes every sign-in, successful or not, to the audit log with IP and user agent", async () => {
    await api.createUser({ email: "erin@accounts.test", password: "erins-password-1" });
    const bad = await api.auth.handler(
      authRequest("/sign-in/email", { body: { email: "erin@accounts.test", password: "nope-nope-nope" } }),
    );
    expect(bad.status).toBe(401);
    const good = await api.auth.handler(
      authRequest("/sign-in/email", { body: { email: "erin@accounts.test", password: "erins-password-1" } }),
    );
    expect(good.status).toBe(200);
    const rows = await t.db.auditEvent.findMany({
      where: { action: "auth.sign-in", actorEmail: "erin@accounts.test" },
      orderBy: { at: "asc" },
    });
    expect(rows.map((r) => r.outcome)).toEqual(["failure", "success"]);
    for (const r of rows) expect(r).toMatchObject({ ip: "198.51.100.9", userAgent: "accounts-test" });
    expect(rows[0]?.actorId).toBe(rows[1]?.actorId);
    expect(JSON.stringify(rows)).not.toContain("erins-password-1");
  });

  it("sets httpOnly SameSite session cookies, Secure only when the base URL is https", async () => {
    await api.createUser({ email: "fay@accounts.test", password: "fays-password-1" });
    const body = { email: "fay@accounts.test", password: "fays-password-1" };
    const plain = await api.auth.handler(authRequest("/sign-in/email", { body }));
    const session = plain.headers.getSetCookie().find((c) => c.includes("session_token="));
    expect(session).toMatch(/HttpOnly/i);
    expect(session).toMatch(/SameSite=Lax/i);
    expect(session).not.toMatch(/Secure/i);

    const https = createAuth({
      db: t.db,
      secret: "lifeboat-test-secret-0123456789abcdef",
      baseURL: "https://lifeboat.example.com",
      rateLimit: false,
    });
    const res = await https.handler(
      new Request("https://lifeboat.example.com/api/auth/sign-in/email", {
        method: "POST",
        headers: { origin: "https://lifeboat.example.com", "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    );
    expect(res.status).toBe(200);
    const secure = res.headers.getSetCookie().find((c) => c.includes("session_token="));
    expect(secure).toMatch(/^__Secure-/);
    expect(secure).toMatch(/;\s*Secure/i);
    expect(secure).toMatch(/HttpOnly/i);
    expect(secure).toMatch(/SameSite=Lax/i);
  });

  it("rate-limits sign-in attempts per client in the database (429)", async () => {
    const limited = createAuth({
      db: t.db,
      secret: "lifeboat-test-secret-0123456789abcdef",
      baseURL: ORIGIN,
      rateLimit: true,
    });
    const attempt = (ip: string) =>
      limited.handler(
        authRequest("/sign-in/email", {
          body: { email: "nobody@accounts.test", password: "whatever-123" },
          ip,
        }),
      );
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await attempt("192.0.2.44")).status);
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses[3]).toBe(429);
    // Kept in PostgreSQL, so that several web instances share the count; other clients are not affected.
    expect(await t.db.rateLimit.count({ where: { key: { contains: "192.0.2.44" } } })).toBe(1);
    expect((await attempt("192.0.2.45")).status).toBe(401);
  });

  it("answers 404 to browsers for user, team and member management outside the audited API", async () => {
    const res = await api.auth.handler(
      authRequest("/sign-in/email", {
        body: { email: "root@accounts.test", password: "correct-horse-battery" },
      }),
    );
    const cookie = cookiesOf(res);
    const probes: Array<[string, unknown]> = [
      ["/admin/create-user", { email: "x@accounts.test", password: "x-password-1", name: "X" }],
      ["/admin/set-role", { userId: "x", role: "admin" }],
      ["/organization/create", { name: "Sneaky", slug: "sneaky" }],
      ["/organization/update-member-role", { memberId: "x", role: "admin" }],
      ["/update-user", { name: "Someone else" }],
      ["/sign-up/email", { email: "y@accounts.test", password: "y-password-1", name: "Y" }],
    ];
    for (const [path, body] of probes) {
      const r = await api.auth.handler(authRequest(path, { body, cookie }));
      expect([path, r.status]).toEqual([path, 404]);
    }
    expect(await t.db.user.count({ where: { email: { in: ["x@accounts.test", "y@accounts.test"] } } })).toBe(
      0,
    );
    expect((await api.auth.handler(authRequest("/get-session", { cookie }))).status).toBe(200);
  });
});

describe("configuration", () => {
  it("refuses half an OIDC configuration and reads a whole one", () => {
    const base = { LIFEBOAT_DATA_DIR: "/tmp/lb-accounts" };
    expect(() =>
      serverEnv({ ...base, LIFEBOAT_OIDC_CLIENT_ID: "lifeboat" } as unknown as NodeJS.ProcessEnv),
    ).toThrow(/LIFEBOAT_OIDC_TOKEN_URL/);
    expect(() =>
      serverEnv({
        ...base,
        LIFEBOAT_WEBHOOK_URL: "https://hooks.example.com/x",
      } as unknown as NodeJS.ProcessEnv),
    ).toThrow(/LIFEBOAT_WEBHOOK_SECRET/);
    const env = serverEnv({
      ...base,
      LIFEBOAT_OIDC_CLIENT_ID: "lifeboat",
      LIFEBOAT_OIDC_AUTHORIZATION_URL: "https://sso.example.com/auth",
      LIFEBOAT_OIDC_TOKEN_URL: "https://sso.example.com/token",
      LIFEBOAT_OIDC_USERINFO_URL: "https://sso.example.com/userinfo",
    } as unknown as NodeJS.ProcessEnv);
    expect(oidcFromEnv(env)).toMatchObject({ clientId: "lifeboat", scopes: ["openid", "email", "profile"] });
    expect(oidcFromEnv(serverEnv(base as unknown as NodeJS.ProcessEnv))).toBeUndefined();
    resetServerEnvCache();
  });
});

/** A tiny OpenID Connect provider: authorize (redirects back with a code), token and userinfo endpoints. */
async function startOidcProvider(profiles: Record<string, { sub: string; email: string; name: string }>) {
  const codes = new Map<string, { login: string; challenge: string | null }>();
  const tokens = new Map<string, string>();
  const seen: { tokenRequests: number; verifierSent: boolean } = { tokenRequests: 0, verifierSent: false };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname === "/authorize") {
      // The test picks who "logs in" at the provider with login_hint-like query `as`.
      const login = url.searchParams.get("as") ?? "ada";
      const code = `code-${Math.random().toString(36).slice(2)}`;
      codes.set(code, { login, challenge: url.searchParams.get("code_challenge") });
      const back = new URL(url.searchParams.get("redirect_uri") ?? "");
      back.searchParams.set("code", code);
      back.searchParams.set("state", url.searchParams.get("state") ?? "");
      res.writeHead(302, { location: back.toString() }).end();
      return;
    }
    if (url.pathname === "/token" && req.method === "POST") {
      seen.tokenRequests++;
      let body = "";
      for await (const chunk of req) body += chunk;
      const form = new URLSearchParams(body);
      const entry = codes.get(form.get("code") ?? "");
      seen.verifierSent = Boolean(form.get("code_verifier"));
      if (!entry || form.get("client_id") !== "lifeboat" || form.get("client_secret") !== "s3cret") {
        res.writeHead(400, { "content-type": "application/json" }).end('{"error":"invalid_grant"}');
        return;
      }
      codes.delete(form.get("code") ?? "");
      const token = `at-${Math.random().toString(36).slice(2)}`;
      tokens.set(token, entry.login);
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ access_token: token, token_type: "Bearer", expires_in: 300 }));
      return;
    }
    if (url.pathname === "/userinfo") {
      const login = tokens.get((req.headers.authorization ?? "").replace(/^Bearer /, ""));
      const profile = login ? profiles[login] : undefined;
      if (!profile) {
        res.writeHead(401).end();
        return;
      }
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ ...profile, email_verified: true }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe("OIDC sign-in", () => {
  it("signs an admin-created account in through the provider and refuses unknown people", async () => {
    const admin = await api.caller(adminHeaders);
    const { user } = await admin.users.create({
      email: "oscar@accounts.test",
      name: "Oscar",
      password: "none",
    });
    const idp = await startOidcProvider({
      oscar: { sub: "kc-oscar-1", email: "oscar@accounts.test", name: "Oscar O." },
      stranger: { sub: "kc-stranger-9", email: "stranger@elsewhere.test", name: "Stranger" },
    });
    try {
      const auth = createAuth({
        db: t.db,
        secret: "lifeboat-test-secret-0123456789abcdef",
        baseURL: ORIGIN,
        rateLimit: false,
        oidc: {
          name: "Keycloak",
          clientId: "lifeboat",
          clientSecret: "s3cret",
          authorizationUrl: `${idp.base}/authorize`,
          tokenUrl: `${idp.base}/token`,
          userInfoUrl: `${idp.base}/userinfo`,
          scopes: ["openid", "email", "profile"],
          autoCreate: false,
        },
      });
      async function signInAs(login: string) {
        const start = await auth.handler(
          authRequest("/sign-in/social", { body: { provider: OIDC_PROVIDER_ID, callbackURL: "/" } }),
        );
        expect(start.status).toBe(200);
        const { url } = (await start.json()) as { url: string };
        const authorize = new URL(url);
        expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
        authorize.searchParams.set("as", login);
        const atIdp = await fetch(authorize, { redirect: "manual" });
        const callback = new URL(atIdp.headers.get("location") ?? "");
        expect(callback.pathname).toBe(`/api/auth/callback/${OIDC_PROVIDER_ID}`);
        return auth.handler(
          new Request(callback, {
            headers: {
              cookie: cookiesOf(start),
              "user-agent": "oidc-test",
              "x-lifeboat-client-ip": "198.51.100.20",
            },
          }),
        );
      }

      const ok = await signInAs("oscar");
      expect(ok.status).toBe(302);
      expect(ok.headers.get("location")).toBe("/");
      expect(idp.seen.verifierSent).toBe(true);
      const session = await auth.api.getSession({ headers: new Headers({ cookie: cookiesOf(ok) }) });
      expect(session?.user.id).toBe(user.id);
      const linked = await t.db.account.findFirstOrThrow({ where: { userId: user.id } });
      expect(linked).toMatchObject({ providerId: OIDC_PROVIDER_ID, accountId: "kc-oscar-1" });

      const refused = await signInAs("stranger");
      expect(refused.headers.get("location")).toMatch(/error=/);
      expect(refused.headers.getSetCookie().some((c) => c.includes("session_token=") && !/=;/.test(c))).toBe(
        false,
      );
      expect(await t.db.user.count({ where: { email: "stranger@elsewhere.test" } })).toBe(0);

      const rows = await t.db.auditEvent.findMany({
        where: { action: "auth.sign-in", details: { path: ["method"], equals: `oidc:${OIDC_PROVIDER_ID}` } },
        orderBy: { at: "asc" },
      });
      expect(rows.map((r) => [r.outcome, r.actorEmail])).toEqual([
        ["success", "oscar@accounts.test"],
        ["failure", null],
      ]);
      expect(rows[0]).toMatchObject({ actorId: user.id, ip: "198.51.100.20", userAgent: "oidc-test" });
    } finally {
      await idp.close();
    }
  });
});
