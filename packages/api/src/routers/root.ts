import { router } from "../trpc";
import { counts as approvalsCounts } from "./approvals/counts";
import {
  approve as approvalsApprove,
  cancel as approvalsCancel,
  reject as approvalsReject,
} from "./approvals/decide";
import { get as approvalsGet } from "./approvals/get";
import { list as approvalsList } from "./approvals/list";
import { list as auditList } from "./audit/list";
import { get as jobsGet } from "./jobs/get";
import { get as meGet } from "./me/get";
import {
  list as notificationsList,
  markRead as notificationsMarkRead,
  unreadCount as notificationsUnreadCount,
} from "./notifications/list";
import { summary } from "./overview/summary";
import { health } from "./system/health";
import { ping } from "./system/ping";
import { create as teamsCreate } from "./teams/create";
import { remove as teamsDelete } from "./teams/delete";
import { get as teamsGet } from "./teams/get";
import { list as teamsList } from "./teams/list";
import { addMember, removeMember, setMemberRole } from "./teams/members";
import { requestVmRuleChange } from "./teams/request-vm-rule-change";
import { update as teamsUpdate } from "./teams/update";
import { vms as teamsVms } from "./teams/vms";
import { create as usersCreate } from "./users/create";
import { list as usersList } from "./users/list";
import { resetPassword as usersResetPassword } from "./users/reset-password";
import { update as usersUpdate } from "./users/update";

export const appRouter = router({
  system: router({ health, ping }),
  me: router({ get: meGet }),
  overview: router({ summary }),
  jobs: router({ get: jobsGet }),
  users: router({
    list: usersList,
    create: usersCreate,
    update: usersUpdate,
    resetPassword: usersResetPassword,
  }),
  teams: router({
    list: teamsList,
    get: teamsGet,
    create: teamsCreate,
    update: teamsUpdate,
    delete: teamsDelete,
    addMember,
    setMemberRole,
    removeMember,
    requestVmRuleChange,
    vms: teamsVms,
  }),
  approvals: router({
    list: approvalsList,
    get: approvalsGet,
    counts: approvalsCounts,
    approve: approvalsApprove,
    reject: approvalsReject,
    cancel: approvalsCancel,
  }),
  audit: router({ list: auditList }),
  notifications: router({
    list: notificationsList,
    unreadCount: notificationsUnreadCount,
    markRead: notificationsMarkRead,
  }),
});

export type AppRouter = typeof appRouter;
