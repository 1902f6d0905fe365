import { createHash } from "node:crypto";
import { type AuthOptions, CLIENT_IP_HEADER, createAuth } from "@lifeboat/auth";
import type { Db } from "@lifeboat/db";
import type { DomainConfig, NotifyConfig, RepositorySettings } from "@lifeboat/domain";
import { createJobQueue } from "@lifeboat/jobs";
import { createContext } from "./context";
import { appRouter } from "./routers/root";
import { createCallerFactory } from "./trpc";

/** The key that seals engine passwords in tests (fixed, so fixtures can seal before an API exists). */
export const TEST_ENCRYPTION_KEY: Buffer = createHash("sha256")
  .update("lifeboat test engine passwords")
  .digest();

/**
 * A real auth + API stack over a test database, for integration tests: users are created and signed in
 * through better-auth, and procedures are called with the resulting session cookie, exactly as over HTTP.
 */
export function createTestApi(
  db: Db,
  databaseUrl: string,
  opts: {
    /** Webhook / SMTP targets; none by default (in-app notifications only). */
    notify?: NotifyConfig;
    /** The repository the procedures open (default: none; a procedure that needs one fails). */
    repository?: RepositorySettings;
    /** The key sealing engine passwords (default: TEST_ENCRYPTION_KEY). */
    encryptionKey?: Buffer;
    auth?: Partial<Omit<AuthOptions, "db">>;
  } = {},
) {
  const auth = createAuth({
    db,
    secret: "lifeboat-test-secret-0123456789abcdef",
    baseURL: "http://localhost:3000",
    rateLimit: false,
    ...opts.auth,
  });
  const notify: NotifyConfig = opts.notify ?? { publicUrl: "http://localhost:3000" };
  // One object for every caller of this API: a test may point `config.repository` elsewhere for a while.
  const config: DomainConfig = {
    encryptionKey: opts.encryptionKey ?? TEST_ENCRYPTION_KEY,
    repository: opts.repository ?? { dir: "/nonexistent/lifeboat-test-repository" },
    notify,
  };
  const queue = createJobQueue(db, databaseUrl);
  const createCaller = createCallerFactory(appRouter);

  async function createUser(u: { email: string; name?: string; password?: string; role?: "admin" | "user" }) {
    const password = u.password ?? "correct-horse-battery";
    const res = await auth.api.createUser({
      body: { email: u.email, password, name: u.name ?? u.email.split("@")[0]!, role: u.role ?? "user" },
    });
    return { id: res.user.id, email: u.email, password };
  }

  async function signIn(email: string, password: string): Promise<Headers> {
    const res = await auth.api.signInEmail({ body: { email, password }, asResponse: true });
    if (!res.ok) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`);
    const cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(";")[0])
      .join("; ");
    return new Headers({ cookie, "user-agent": "vitest", [CLIENT_IP_HEADER]: "203.0.113.7" });
  }

  async function caller(headers: Headers = new Headers()) {
    return createCaller(await createContext({ db, auth, queue, headers, config }));
  }

  return { auth, queue, notify, config, createUser, signIn, caller };
}
