import { router } from "../../trpc";
import { describeSchedule } from "./describe-schedule";
import { get } from "./get";
import { jobs } from "./jobs";
import { list } from "./list";
import { pin, unpin } from "./pin";
import { prune } from "./prune";
import { prunePreview } from "./prune-preview";
import { requestChange } from "./request-change";
import { requestPointDeletion } from "./request-point-deletion";
import { runNow } from "./run-now";
import { summary } from "./summary";

/** Protection policies: schedules, retention and verification, and the restore-point pins they respect. */
export const policiesRouter = router({
  list,
  get,
  describeSchedule,
  requestChange,
  prunePreview,
  prune,
  runNow,
  jobs,
  summary,
  pin,
  unpin,
  requestPointDeletion,
});
