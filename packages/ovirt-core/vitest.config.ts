import { defineConfig } from "vitest/config";

// The flows and clients run against a real simulator over HTTPS: seconds per test, more on a loaded machine.
export default defineConfig({
  test: { testTimeout: 60_000, hookTimeout: 120_000 },
});
