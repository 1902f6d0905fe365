import { jobStarted, requireActor, startVerify, verifyRequest } from "@lifeboat/domain";
import { procedure } from "../../trpc";

/**
 * Verifies a restore point: every chunk it uses is read back and re-hashed; damage marks it (and every other
 * restore point sharing the bad chunks) failed, which blocks restores from them.
 *
 * Permission `backup:create` (operators and admins of the owning team), not `restore-point:read`: a
 * verification reads the whole restore point from the repository (load comparable to a backup) and changes
 * the restore points' verify state, so it is an operation, not a read. Whole-repository verification is for
 * schedules and `lifeboat verify`.
 */
export const start = procedure
  .meta({ permission: "backup:create" })
  .input(verifyRequest)
  .output(jobStarted)
  .mutation(({ ctx, input }) => startVerify(ctx, requireActor(ctx), input));
