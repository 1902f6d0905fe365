import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["../../packages/db/src/vitest-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
