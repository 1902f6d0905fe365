import { defineConfig } from "prisma/config";
import { migrationAdapter } from "./scripts/migration-adapter";

// Prisma 6 must resolve DATABASE_URL even for `generate`; the value is only used by migrate commands.
process.env.DATABASE_URL ??= "postgresql://postgres:postgres@127.0.0.1:54330/lifeboat";
const url = process.env.DATABASE_URL;

export default defineConfig({
  experimental: { adapter: true },
  // The WebAssembly schema engine inside the prisma package: nothing is downloaded (toolchain.md §3).
  engine: "js",
  adapter: async () => migrationAdapter(url),
  // Paths are relative to this file: the schema and migrations live at the repository root.
  schema: "../../prisma/schema.prisma",
  migrations: { path: "../../prisma/migrations" },
});
