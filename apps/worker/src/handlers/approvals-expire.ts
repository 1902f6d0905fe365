import { expireApprovals } from "@lifeboat/domain";
import type { JobHandler } from "../job-context";

/** Expires approval requests nobody decided in time (also done lazily whenever approvals are read). */
export const approvalsExpire: JobHandler<"approvals.expire"> = async ({ db, settings }) => {
  const { expired, interrupted } = await expireApprovals(db, { notify: settings.config.notify });
  return { expired, interrupted };
};
