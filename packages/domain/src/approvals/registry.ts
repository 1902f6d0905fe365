import type { ApprovalRequest, Db } from "@lifeboat/db";
import type { JobQueue } from "@lifeboat/jobs";
import type { z } from "zod";

/** Every kind of operation that can wait for an approval. */
export const APPROVAL_KINDS = [
  "restore.vm",
  "restore.disk",
  "image.download",
  "restore-point.delete",
  "policy.change",
  "team.assignment",
] as const;
export type ApprovalKind = (typeof APPROVAL_KINDS)[number];

export interface ApprovalPerson {
  userId: string;
  name: string;
  email: string;
}

/** What an executor gets when a request of its kind is approved. */
export interface ApprovalExecution<P = unknown> {
  db: Db;
  queue: JobQueue;
  /** The approved row (state "approved"), as stored. */
  request: ApprovalRequest;
  /** `request.payload`, validated again by the kind's schema when one was registered. */
  payload: P;
  /** Who asked: enqueue jobs with `createdBy: requester.userId` and `teamId: request.teamId`. */
  requester: ApprovalPerson;
  approver: ApprovalPerson;
}

export interface ApprovalOutcome {
  /** The job enqueued for the approved operation (shown with the request). */
  jobId?: string;
  /** Facts worth keeping with the request (e.g. the id of what was created). */
  result?: Record<string, unknown>;
}

export type ApprovalExecutor<P = unknown> = (
  execution: ApprovalExecution<P>,
) => Promise<ApprovalOutcome | undefined> | Promise<void>;

interface Registration {
  execute: ApprovalExecutor;
  payload?: z.ZodType;
}

const executors = new Map<ApprovalKind, Registration>();

/**
 * Plugs in what runs when a request of `kind` is approved (enqueue the restore job, delete the restore point…).
 * Register at module load of the service that requests approvals of that kind. With `payload`, the payload is
 * validated when the request is made AND again just before the executor runs. A request of a kind with no
 * executor is refused, so that nothing can wait for an approval that could never run.
 */
export function registerApprovalExecutor<S extends z.ZodType>(
  kind: ApprovalKind,
  execute: ApprovalExecutor<z.infer<S>>,
  opts: { payload: S },
): void;
export function registerApprovalExecutor(kind: ApprovalKind, execute: ApprovalExecutor): void;
export function registerApprovalExecutor(
  kind: ApprovalKind,
  execute: ApprovalExecutor<never>,
  opts?: { payload?: z.ZodType },
): void {
  // The last registration wins (module reloads in development register again).
  executors.set(kind, { execute: execute as ApprovalExecutor, payload: opts?.payload });
}

export function approvalExecutorFor(kind: string): Registration | undefined {
  return executors.get(kind as ApprovalKind);
}

export function isApprovalKind(kind: string): kind is ApprovalKind {
  return (APPROVAL_KINDS as readonly string[]).includes(kind);
}

/**
 * Whether an operation needs a second person's approval in a team. Restores over (or colliding with) an
 * existing VM, restore-point deletions, policy changes and team assignment changes always do; every restore or
 * every image download only when the team turned that on.
 */
export function approvalRequired(
  team: { requireApprovalForRestores: boolean; requireApprovalForDownloads: boolean },
  kind: ApprovalKind,
  opts: { collidesWithExistingVm?: boolean } = {},
): boolean {
  switch (kind) {
    case "restore.vm":
      return opts.collidesWithExistingVm === true || team.requireApprovalForRestores;
    case "restore.disk":
      return team.requireApprovalForRestores;
    case "image.download":
      return team.requireApprovalForDownloads;
    default:
      return true;
  }
}
