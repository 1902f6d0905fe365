import { auditLogPage, auditLogQuery, listAuditLog, requireActor } from "@lifeboat/domain";
import { procedure } from "../../trpc";

/**
 * The audit log, newest first, with keyset pagination. Site administrators see every row; team admins and
 * approvers see their teams' rows only.
 */
export const list = procedure
  .meta({ permission: "audit:read" })
  .input(auditLogQuery)
  .output(auditLogPage)
  .query(({ ctx, input }) => listAuditLog(ctx.db, requireActor(ctx), input));
