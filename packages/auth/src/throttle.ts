import type { Db } from "@lifeboat/db";

/** Attempts on one account before it is locked; each further attempt doubles the lock, up to MAX_LOCK_S. */
export const FREE_ATTEMPTS = 5;
const BASE_LOCK_S = 30;
const MAX_LOCK_S = 15 * 60;
/** An account left alone this long starts over. */
const RESET_AFTER_S = 60 * 60;

export type ThrottleKey = `sign-in:${string}` | `change-password:${string}`;

/**
 * Counts an attempt on `key` before it is tried, in one statement (row-locked, so parallel attempts cannot slip
 * past the count, and several web processes agree). Answers the seconds to wait when the account is locked, or
 * null when this attempt may go ahead. An attempt that succeeds calls `clearAttempts`.
 */
export async function takeAttempt(db: Db, key: ThrottleKey): Promise<number | null> {
  const next = `CASE WHEN t."lastAttemptAt" < now() - make_interval(secs => ${RESET_AFTER_S}) THEN 1 ELSE t.attempts + 1 END`;
  const rows = await db.$queryRawUnsafe<Array<{ attempts: number }>>(
    `INSERT INTO auth_throttle AS t (key, attempts, "lastAttemptAt") VALUES ($1, 1, now())
     ON CONFLICT (key) DO UPDATE SET
       attempts = ${next},
       "lastAttemptAt" = now(),
       "lockedUntil" = CASE WHEN ${next} >= ${FREE_ATTEMPTS}
         THEN now() + make_interval(secs => least(${BASE_LOCK_S} * power(2, ${next} - ${FREE_ATTEMPTS}), ${MAX_LOCK_S}))
         END
     WHERE t."lockedUntil" IS NULL OR t."lockedUntil" <= now()
     RETURNING attempts`,
    key,
  );
  if (rows.length > 0) return null;
  const locked = await db.authThrottle.findUnique({ where: { key } });
  const ms = (locked?.lockedUntil?.getTime() ?? 0) - Date.now();
  return Math.max(1, Math.ceil(ms / 1000));
}

export async function clearAttempts(db: Db, key: ThrottleKey): Promise<void> {
  await db.authThrottle.deleteMany({ where: { key } });
}
