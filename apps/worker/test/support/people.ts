import { randomBytes, randomUUID } from "node:crypto";
import type { Db } from "@lifeboat/db";
import {
  type Actor,
  actorFor,
  type DomainConfig,
  type Permission,
  type Person,
  type ServiceContext,
} from "@lifeboat/domain";
import type { JobQueue } from "@lifeboat/jobs";

/** The key that seals engine passwords in these tests (hex, as LIFEBOAT_ENCRYPTION_KEY takes it). */
export const ENCRYPTION_KEY = randomBytes(32).toString("hex");

/** What a test's processes are configured with: the tests' key, in-app notifications only. */
export function testConfig(repositoryDir = "/nonexistent/lifeboat-test-repository"): DomainConfig {
  return {
    encryptionKey: Buffer.from(ENCRYPTION_KEY, "hex"),
    repository: { dir: repositoryDir },
    notify: { publicUrl: "http://localhost:3000" },
  };
}

/** What a domain operation gets when `person` calls it: the actor with its scope for the permission. */
export type Acting = ServiceContext & { actor: Actor };

/** A person with an account (no password: the tests call the domain as them, without signing in). */
export async function createPerson(db: Db, opts: { email: string; siteAdmin?: boolean }): Promise<Person> {
  const user = await db.user.create({
    data: {
      id: randomUUID(),
      email: opts.email,
      name: opts.email.split("@")[0] ?? opts.email,
      role: opts.siteAdmin ? "admin" : "user",
    },
  });
  return { userId: user.id, name: user.name, email: user.email, siteAdmin: opts.siteAdmin ?? false };
}

/** The context of a domain operation `person` calls with `permission`, the scope resolved as the API's guard does. */
export async function acting(
  db: Db,
  queue: JobQueue,
  person: Person,
  permission: Permission,
  config: DomainConfig = testConfig(),
): Promise<Acting> {
  const actor = await actorFor(db, person, permission);
  return { db, queue, actor, audit: {}, ip: null, userAgent: "vitest", config };
}
