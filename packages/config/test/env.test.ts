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

describe("LIFEBOAT_CHECKPOINT_CHAIN", () => {
  it("defaults to 7 and takes a whole number from 1", () => {
    expect(serverEnv({} as NodeJS.ProcessEnv).LIFEBOAT_CHECKPOINT_CHAIN).toBe(7);
    expect(serverEnv({ LIFEBOAT_CHECKPOINT_CHAIN: "3" } as NodeJS.ProcessEnv).LIFEBOAT_CHECKPOINT_CHAIN).toBe(
      3,
    );
    for (const v of ["0", "-1", "2.5", "many"])
      expect(() => serverEnv({ LIFEBOAT_CHECKPOINT_CHAIN: v } as NodeJS.ProcessEnv)).toThrow(
        /LIFEBOAT_CHECKPOINT_CHAIN/,
      );
  });
});

describe("LIFEBOAT_TRUSTED_PROXIES", () => {
  it("is empty by default and takes IPs and CIDR blocks", () => {
    expect(serverEnv({} as NodeJS.ProcessEnv).LIFEBOAT_TRUSTED_PROXIES).toEqual([]);
    const env = serverEnv({
      LIFEBOAT_TRUSTED_PROXIES: "10.0.0.0/8, 192.0.2.1,fd00::/8",
    } as NodeJS.ProcessEnv);
    expect(env.LIFEBOAT_TRUSTED_PROXIES).toEqual(["10.0.0.0/8", "192.0.2.1", "fd00::/8"]);
  });

  it.each(["proxy.local", "10.0.0.0/33", "::1/129", "10.0.0.1/8/2", "10.0.0/8"])("refuses %s", (v) => {
    expect(() => serverEnv({ LIFEBOAT_TRUSTED_PROXIES: v } as NodeJS.ProcessEnv)).toThrow(
      /LIFEBOAT_TRUSTED_PROXIES: must be IP addresses or CIDR/,
    );
  });
});
