import path from "node:path";
import { describe, expect, it } from "vitest";
import { serverEnv } from "../src/env";

describe("serverEnv", () => {
  it("applies defaults and resolves the data dir", () => {
    const env = serverEnv({ LIFEBOAT_DATA_DIR: "/tmp/lb-x" } as NodeJS.ProcessEnv);
    expect(env.PORT).toBe(3000);
    expect(env.dataDir).toBe("/tmp/lb-x");
    expect(env.repositoryDir).toBe(path.join("/tmp/lb-x", "repository"));
    expect(env.LIFEBOAT_AUTH_RATE_LIMIT).toBe(true);
  });

  it("lists every invalid variable in one error", () => {
    expect(() => serverEnv({ PORT: "99999", DATABASE_URL: "nope" } as NodeJS.ProcessEnv)).toThrow(
      /PORT[\s\S]*DATABASE_URL|DATABASE_URL[\s\S]*PORT/,
    );
  });
});
