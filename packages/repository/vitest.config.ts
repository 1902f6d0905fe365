import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Starts the throw-away S3 server (Ceph RGW) the S3 leg of the suite runs against.
    globalSetup: ["./test/s3-server.ts"],
    // A few S3 round trips per step: more than the 5 s default on a loaded machine.
    testTimeout: 60_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  },
});
