import { parseKey32, type ServerEnv } from "@lifeboat/config";
import { type NotifyConfig, notifyConfigFrom } from "./notify";
import { type RepositorySettings, repositorySettingsFrom } from "./repository";

/**
 * What the domain takes from the process's configuration. Each process builds it once at its edge
 * (`domainConfig(serverEnv())`) and hands it down: in the `ServiceContext` of an operation, in the worker's
 * settings. Nothing inside the domain reads the environment.
 */
export interface DomainConfig {
  /** Seals the engine passwords (LIFEBOAT_ENCRYPTION_KEY); null: engines can be neither registered nor opened. */
  encryptionKey: Buffer | null;
  repository: RepositorySettings;
  notify: NotifyConfig;
}

export function domainConfig(env: ServerEnv): DomainConfig {
  const key = env.LIFEBOAT_ENCRYPTION_KEY?.trim();
  return {
    encryptionKey: key ? parseKey32(key, "LIFEBOAT_ENCRYPTION_KEY") : null,
    repository: repositorySettingsFrom(env),
    notify: notifyConfigFrom(env),
  };
}
