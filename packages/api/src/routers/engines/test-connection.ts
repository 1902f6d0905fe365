import { openSecret } from "@lifeboat/config";
import { AppError, connectionTestView, sealingKey, testEngineConnection } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const enginesTestInput = z.object({
  /** A saved engine: its settings, overridden by the fields given (the saved password when none is given). */
  engineId: z.string().max(100).optional(),
  apiUrl: z.string().trim().max(500).optional(),
  username: z.string().trim().max(200).optional(),
  password: z.string().max(500).optional(),
  caPem: z
    .string()
    .max(64 * 1024)
    .nullable()
    .optional(),
  insecure: z.boolean().optional(),
});

/**
 * Tries the connection: log in, read the API version, clusters and storage domains. For a saved engine tested
 * as saved, the outcome is also recorded on it (last check, last error).
 */
export const testConnection = procedure
  .meta({ permission: "site:engines" })
  .input(enginesTestInput)
  .output(connectionTestView)
  .mutation(async ({ ctx, input }) => {
    const row = input.engineId ? await ctx.db.engine.findUnique({ where: { id: input.engineId } }) : null;
    if (input.engineId && !row) throw new AppError("NOT_FOUND", "No such engine.");
    ctx.audit.targetType = "engine";
    ctx.audit.targetId = row?.id;
    let password = input.password;
    if (!password && row) {
      const key = sealingKey(ctx.config.encryptionKey);
      try {
        password = openSecret(row.secretSealed, key);
      } catch {
        throw new AppError("PRECONDITION_FAILED", "The saved password cannot be opened: enter it again.");
      }
    }
    const apiUrl = input.apiUrl ?? row?.apiUrl;
    const username = input.username ?? row?.username;
    if (!apiUrl || !username || !password)
      throw new AppError("BAD_REQUEST", "Give the engine URL, the user name and the password.");
    const result = await testEngineConnection({
      apiUrl,
      username,
      password,
      caPem: input.caPem !== undefined ? input.caPem : (row?.caPem ?? null),
      insecure: input.insecure ?? row?.insecure ?? false,
    });
    const asSaved =
      row &&
      !input.apiUrl &&
      !input.username &&
      !input.password &&
      input.caPem === undefined &&
      input.insecure === undefined;
    if (asSaved)
      await ctx.db.engine.update({
        where: { id: row.id },
        data: { lastCheckAt: new Date(), lastError: result.ok ? null : (result.error ?? "failed") },
      });
    ctx.audit.details = { ok: result.ok, ...(result.error ? { error: result.error } : {}) };
    return result;
  });
