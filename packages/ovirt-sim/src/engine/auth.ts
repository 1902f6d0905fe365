import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { SimClock } from "../util/clock";

interface Session {
  user: string;
  expires: number;
}

export interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
}

export const SSO_SCOPE =
  "ovirt-app-api ovirt-ext=token-info:authz-search ovirt-ext=token-info:public-authz-search ovirt-ext=token-info:validate ovirt-ext=token:password-access";

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * SSO tokens (OAuth password grant), Basic authentication and `Prefer: persistent-auth` sessions. Tokens
 * live in memory (an engine restart ends SSO sessions too) and expire after `ttlMs` without use.
 */
export class AuthService {
  private readonly tokens = new Map<string, Session>();
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly clock: SimClock,
    readonly user: string,
    private readonly password: string,
    private readonly ttlMs: number,
  ) {}

  private checkCredentials(user: string, password: string): boolean {
    return sameSecret(user, this.user) && sameSecret(password, this.password);
  }

  /** `POST /ovirt-engine/sso/oauth/token` with the two error shapes of ovirt-protocol.md §2.1. */
  token(form: URLSearchParams): TokenAnswer {
    const scope = form.get("scope");
    const appScope = scope?.split(/\s+/).includes("ovirt-app-api");
    const fail = (code: string, text: string, status = 400): TokenAnswer =>
      appScope
        ? { status, body: { error_code: code, error: text } }
        : { status, body: { error: code, error_description: text } };
    const grant = form.get("grant_type");
    if (!grant) return fail("invalid_request", "Missing parameter: 'grant_type'");
    if (grant !== "password")
      return fail("unsupported_grant_type", `The grant type '${grant}' is not supported.`);
    if (scope === null) return fail("invalid_request", "Missing parameter: 'scope'");
    if (!appScope) return fail("invalid_scope", `The requested scope '${scope}' is not valid.`);
    const user = form.get("username");
    const password = form.get("password");
    if (!user) return fail("invalid_request", "Missing parameter: 'username'");
    if (password === null) return fail("invalid_request", "Missing parameter: 'password'");
    if (!this.checkCredentials(user, password))
      return fail(
        "access_denied",
        `Cannot authenticate user '${user}': The username or password is incorrect..`,
      );
    const token = randomBytes(48).toString("base64url");
    const expires = this.clock.now() + this.ttlMs;
    this.tokens.set(token, { user, expires });
    return {
      status: 200,
      body: { access_token: token, token_type: "bearer", scope: SSO_SCOPE, exp: String(expires) },
    };
  }

  /** `POST /ovirt-engine/services/sso-logout`. */
  revoke(token: string | null): Record<string, unknown> {
    if (token) this.tokens.delete(token);
    return {};
  }

  /** Drops every token, e.g. to make clients re-authenticate. */
  revokeAll(): void {
    this.tokens.clear();
    this.sessions.clear();
  }

  private valid(map: Map<string, Session>, key: string): Session | null {
    const s = map.get(key);
    if (!s) return null;
    if (s.expires <= this.clock.now()) {
      map.delete(key);
      return null;
    }
    s.expires = this.clock.now() + this.ttlMs;
    return s;
  }

  /**
   * Authenticates an API request. Returns the user and, when `Prefer: persistent-auth` asked for it, a
   * JSESSIONID cookie to set; null means 401.
   */
  authenticate(req: IncomingMessage): { user: string; setCookie?: string } | null {
    const persistent = /persistent-auth/i.test(String(req.headers.prefer ?? ""));
    const cookie = /(?:^|;\s*)JSESSIONID=([^;]+)/.exec(String(req.headers.cookie ?? ""))?.[1];
    const auth = String(req.headers.authorization ?? "");
    let user: string | null = null;
    if (/^bearer\s+/i.test(auth)) {
      user = this.valid(this.tokens, auth.replace(/^bearer\s+/i, "").trim())?.user ?? null;
      if (!user) return null;
    } else if (/^basic\s+/i.test(auth)) {
      const decoded = Buffer.from(auth.replace(/^basic\s+/i, "").trim(), "base64").toString("utf8");
      const i = decoded.indexOf(":");
      if (i < 0 || !this.checkCredentials(decoded.slice(0, i), decoded.slice(i + 1))) return null;
      user = decoded.slice(0, i);
    } else if (cookie) {
      user = this.valid(this.sessions, cookie)?.user ?? null;
      if (!persistent) this.sessions.delete(cookie); // a request without the Prefer header ends the session
      return user ? { user } : null;
    } else return null;
    if (persistent) {
      const id = randomBytes(24).toString("hex");
      this.sessions.set(id, { user, expires: this.clock.now() + this.ttlMs });
      return { user, setCookie: `JSESSIONID=${id}; Path=/ovirt-engine/api; Secure; HttpOnly` };
    }
    return { user };
  }
}
