import { type Permission, SITE_PERMISSIONS, TEAM_PERMISSIONS } from "@lifeboat/domain";
import { TRPCError } from "@trpc/server";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { appRouter } from "../src/routers/root";
import { createCallerFactory, procedure, router } from "../src/trpc";

const known = new Set<string>(["public", "authenticated", ...SITE_PERMISSIONS, ...TEAM_PERMISSIONS]);

describe("every procedure declares a permission", () => {
  const procedures = Object.entries(
    appRouter._def.procedures as unknown as Record<string, { _def: { meta?: { permission?: Permission } } }>,
  );

  it("finds the procedures of the router", () => {
    expect(procedures.map(([path]) => path)).toContain("system.health");
  });

  it.each(procedures.map(([path, p]) => [path, p._def.meta?.permission] as const))(
    "%s declares a known permission",
    (_path, permission) => {
      expect(permission).toBeDefined();
      expect(known.has(permission as string)).toBe(true);
    },
  );
});

describe("the guard", () => {
  it("refuses a procedure that declares no permission, even for anonymous reads", async () => {
    const undeclared = router({ leak: procedure.output(z.string()).query(() => "secret") });
    const caller = createCallerFactory(undeclared)({
      // The guard rejects before touching any of these.
      db: {} as never,
      auth: {} as never,
      queue: {} as never,
      session: null,
      ip: null,
      userAgent: null,
      audit: {},
      config: {} as never,
    });
    const err = await caller.leak().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TRPCError);
    expect((err as TRPCError).code).toBe("FORBIDDEN");
    expect((err as TRPCError).message).toMatch(/declares no permission/);
  });
});
