import type { ApprovalRequest } from "@lifeboat/db";
import { z } from "zod";
import type { Actor } from "../context";
import { type Decider, decisionRefusal } from "./deciders";

export const APPROVAL_STATES = ["pending", "approved", "rejected", "expired", "cancelled", "failed"] as const;
export type ApprovalState = (typeof APPROVAL_STATES)[number];

const person = z.object({ id: z.string(), name: z.string(), email: z.string() });

/** An approval request as the API shows it: both people by name AND e-mail (two accounts of one person). */
export const approvalView = z.object({
  id: z.string(),
  teamId: z.string(),
  teamName: z.string(),
  /** Other teams whose VMs it touches: a site administrator or their admin decides it. */
  otherTeamIds: z.array(z.string()),
  kind: z.string(),
  summary: z.string(),
  reason: z.string(),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  payload: z.unknown(),
  state: z.enum(APPROVAL_STATES),
  requestedBy: person,
  decidedBy: person.nullable(),
  decisionComment: z.string().nullable(),
  decidedAt: z.date().nullable(),
  expiresAt: z.date(),
  createdAt: z.date(),
  jobId: z.string().nullable(),
  executedAt: z.date().nullable(),
  executionError: z.string().nullable(),
  result: z.unknown(),
  /** The viewer may approve or reject it now. */
  canDecide: z.boolean(),
  /** The viewer may withdraw it (their own pending request). */
  canCancel: z.boolean(),
});
export type ApprovalView = z.infer<typeof approvalView>;

export function toApprovalView(
  r: ApprovalRequest & { team: { name: string } },
  viewer: Actor,
  decider: Decider,
  now = new Date(),
): ApprovalView {
  const open = r.state === "pending" && r.expiresAt > now;
  return {
    id: r.id,
    teamId: r.teamId,
    teamName: r.team.name,
    otherTeamIds: r.otherTeamIds,
    kind: r.kind,
    summary: r.summary,
    reason: r.reason,
    targetType: r.targetType,
    targetId: r.targetId,
    payload: r.payload,
    state: open || r.state !== "pending" ? (r.state as ApprovalState) : "expired",
    requestedBy: { id: r.requestedById, name: r.requestedByName, email: r.requestedByEmail },
    decidedBy:
      r.decidedById && r.decidedByName && r.decidedByEmail
        ? { id: r.decidedById, name: r.decidedByName, email: r.decidedByEmail }
        : null,
    decisionComment: r.decisionComment,
    decidedAt: r.decidedAt,
    expiresAt: r.expiresAt,
    createdAt: r.createdAt,
    jobId: r.jobId,
    executedAt: r.executedAt,
    executionError: r.executionError,
    result: r.result,
    canDecide: open && decisionRefusal(r, decider) === null,
    canCancel: open && r.requestedById === viewer.userId,
  };
}
