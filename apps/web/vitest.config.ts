import { defineConfig } from "vitest/config";

// Unit tests only: the Playwright specs in e2e/ run through `pnpm e2e`, never under vitest.
export default defineConfig({
  test: {
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
