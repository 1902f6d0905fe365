import type { ServerEnv } from "@lifeboat/config";

/** The URL users open (`BETTER_AUTH_URL`, default http://localhost:$PORT). */
export function publicUrl(env: Pick<ServerEnv, "BETTER_AUTH_URL" | "PORT">): string {
  return env.BETTER_AUTH_URL ?? `http://localhost:${env.PORT}`;
}

/**
 * Origins whose pages may sign in and call mutations: the public URL's, the loopback names of the port when no
 * public URL is configured, and LIFEBOAT_TRUSTED_ORIGINS. Sign-in (better-auth) and tRPC use this one list.
 */
export function trustedOrigins(
  env: Pick<ServerEnv, "BETTER_AUTH_URL" | "PORT" | "LIFEBOAT_TRUSTED_ORIGINS">,
): string[] {
  const origins = new Set([new URL(publicUrl(env)).origin]);
  if (!env.BETTER_AUTH_URL) origins.add(`http://127.0.0.1:${env.PORT}`);
  for (const o of env.LIFEBOAT_TRUSTED_ORIGINS.split(",").map((s) => s.trim()))
    if (o) origins.add(new URL(o).origin);
  return [...origins];
}
