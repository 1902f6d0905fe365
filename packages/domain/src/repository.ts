import { parseKey32, type ServerEnv } from "@lifeboat/config";
import { openRepository, type Repository } from "@lifeboat/repository";

/** Where the backups of this installation live, and the key of an encrypted repository. */
export interface RepositorySettings {
  dir: string;
  key?: Buffer;
}

/** LIFEBOAT_REPOSITORY_DIR (default: `repository` under the data dir) and LIFEBOAT_REPOSITORY_KEY. */
export function repositorySettingsFrom(
  env: Pick<ServerEnv, "repositoryDir" | "LIFEBOAT_REPOSITORY_KEY">,
): RepositorySettings {
  const raw = env.LIFEBOAT_REPOSITORY_KEY?.trim();
  return { dir: env.repositoryDir, ...(raw ? { key: parseKey32(raw, "LIFEBOAT_REPOSITORY_KEY") } : {}) };
}

const open = new Map<string, Promise<Repository>>();

/**
 * The repository of this installation, created on first use and opened once per process and folder (a
 * Repository is safe to share between concurrent jobs: each backup holds its own writer session).
 */
export function catalogRepository(settings: RepositorySettings): Promise<Repository> {
  let repo = open.get(settings.dir);
  if (!repo) {
    repo = openRepository(settings.dir, {
      create: true,
      key: settings.key,
      onWarning: (m) => console.warn(`[repository] ${m}`),
    });
    open.set(settings.dir, repo);
    repo.catch(() => open.delete(settings.dir));
  }
  return repo;
}
