import path from "node:path";
import { defineConfig } from "vitest/config";

// The Playwright specs in e2e/ run through `pnpm e2e`, never under vitest. `src/`: unit tests; `test/`: the
// route responders over real HTTP and a real PostgreSQL (one migrated database per file).
export default defineConfig({
  resolve: { alias: { "@": path.resolve(import.meta.dirname, "src") } },
  test: {
    projects: [
      { extends: true, test: { name: "unit", include: ["src/**/*.test.{ts,tsx}"] } },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          globalSetup: ["../../packages/db/src/vitest-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
