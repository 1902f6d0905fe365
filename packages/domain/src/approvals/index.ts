/**
 * Four-eyes approvals. Other areas use three things:
 * - `approvalRequired(team, kind, opts)` — does this operation need a second person?
 * - `requestApproval(ctx, { teamId, kind, payload, summary, reason, target })` — file it instead of running;
 * - `registerApprovalExecutor(kind, execute, { payload })` — what runs once it is approved (enqueue the job).
 * Deciding, expiring, listing and notifying live here.
 */
export { cancelApproval, type Decision, decideApproval } from "./decide";
export { type Decider, decisionRefusal, loadDecider } from "./deciders";
export { type ExpireResult, expireApprovals } from "./expire";
export {
  type ApprovalListQuery,
  approvalCounts,
  approvalCountsView,
  approvalDetail,
  approvalListPage,
  approvalListQuery,
  listApprovals,
} from "./list";
export { teamApprovers } from "./notify";
export {
  APPROVAL_KINDS,
  type ApprovalExecution,
  type ApprovalExecutor,
  type ApprovalKind,
  type ApprovalOutcome,
  type ApprovalPerson,
  approvalExecutorFor,
  approvalRequired,
  isApprovalKind,
  registerApprovalExecutor,
} from "./registry";
export { type ApprovalRequestInput, type RequestedApproval, requestApproval } from "./request";
export {
  APPROVAL_STATES,
  type ApprovalState,
  type ApprovalView,
  approvalView,
  toApprovalView,
} from "./view";
