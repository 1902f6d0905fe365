import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export interface LocalSecrets {
  BETTER_AUTH_SECRET: string;
  LIFEBOAT_ENCRYPTION_KEY: string;
}

/**
 * One-machine mode keeps the generated session secret and engine-password key in the data dir (mode 0600),
 * so restarts keep sessions and stored engine passwords readable. Values set in the environment win.
 */
export function loadOrCreateLocalSecrets(
  dataDir: string,
  env: { BETTER_AUTH_SECRET?: string; LIFEBOAT_ENCRYPTION_KEY?: string },
): LocalSecrets {
  const file = path.join(dataDir, "secrets.json");
  let stored: Partial<LocalSecrets> = {};
  if (fs.existsSync(file)) stored = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<LocalSecrets>;
  const secrets: LocalSecrets = {
    BETTER_AUTH_SECRET:
      env.BETTER_AUTH_SECRET ?? stored.BETTER_AUTH_SECRET ?? randomBytes(32).toString("base64url"),
    LIFEBOAT_ENCRYPTION_KEY:
      env.LIFEBOAT_ENCRYPTION_KEY ?? stored.LIFEBOAT_ENCRYPTION_KEY ?? randomBytes(32).toString("base64"),
  };
  if (!stored.BETTER_AUTH_SECRET || !stored.LIFEBOAT_ENCRYPTION_KEY) {
    fs.mkdirSync(dataDir, { recursive: true });
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ ...secrets, ...stored }, null, 2), { mode: 0o600 });
    fs.renameSync(tmp, file);
  }
  return secrets;
}
