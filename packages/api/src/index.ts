export { type AuditEntry, recordAudit, recordJobOutcome } from "./audit";
export { type Auth, createAuth, getAuth, OIDC_PROVIDER_ID, type OidcOptions, oidcFromEnv } from "./auth/auth";
export { type Actor, type Context, createContext } from "./context";
export { AppError, AppErrorCode, appErrorHttpStatus } from "./errors";
export * from "./permissions";
export { getBoss, stopBosses } from "./queue/boss";
export { createJobQueue, enqueueJob, type JobQueue } from "./queue/enqueue";
export * from "./queue/job-types";
export { auditCsvStream } from "./routers/audit/csv";
export { type AuditFilters, auditFilters } from "./routers/audit/list";
export { type DiskImageRequest, diskImageResponse } from "./routers/restore-points/image-download";
export { type AppRouter, appRouter } from "./routers/root";
export * from "./services/approvals";
export {
  closeEventBuses,
  EVENTS_CHANNEL,
  eventBusFor,
  type LiveEvent,
  publishEvent,
  registerEventSource,
} from "./services/events";
export { ensureFirstAdmin, type FirstAdmin } from "./services/first-admin";
export {
  type InventoryRefreshResult,
  PROTECTION_WINDOW_DAYS,
  refreshAllInventories,
  refreshInventory,
} from "./services/inventory";
export {
  flushNotifications,
  type NotificationEvent,
  type NotifyConfig,
  notify,
  notifyConfigFromEnv,
  signWebhookBody,
} from "./services/notify";
export { type PolicySpec, policySpec, protectedVms } from "./services/policies";
export { notifyPolicyJobFailed } from "./services/policies-notify";
export {
  type DeleteOutcome,
  deleteRestorePoint,
  type PruneResult,
  planPrune,
  pruneVm,
} from "./services/policies-prune";
export { afterPolicyJob, runDueSchedules, runPolicyNow } from "./services/policies-run";
export { computeRetention, type RetentionDecision, type RetentionRules } from "./services/retention";
export { describeSchedule, parseSchedule } from "./services/schedules";
export * from "./services/vm-ownership";
export { createCallerFactory } from "./trpc";
