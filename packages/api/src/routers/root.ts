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
import { start as backupsStart } from "./backups/start";
import { create as enginesCreate } from "./engines/create";
import { fetchCa as enginesFetchCa } from "./engines/fetch-ca";
import { list as enginesList } from "./engines/list";
import { restoreTargets as enginesRestoreTargets } from "./engines/restore-targets";
import { setEnabled as enginesSetEnabled } from "./engines/set-enabled";
import { testConnection as enginesTestConnection } from "./engines/test-connection";
import { update as enginesUpdate } from "./engines/update";
import { subscribe as eventsSubscribe } from "./events/subscribe";
import { cancel as jobsCancel } from "./jobs/cancel";
import { events as jobsEvents } from "./jobs/events";
import { get as jobsGet } from "./jobs/get";
import { list as jobsList } from "./jobs/list";
import { get as meGet } from "./me/get";
import {
  list as notificationsList,
  markRead as notificationsMarkRead,
  unreadCount as notificationsUnreadCount,
} from "./notifications/list";
import { leftovers, resolveLeftover } from "./overview/leftovers";
import { summary } from "./overview/summary";
import { policiesRouter } from "./policies";
import { downloadAccess, requestDownload } from "./restore-points/download-access";
import { facets as restorePointsFacets } from "./restore-points/facets";
import { get as restorePointsGet } from "./restore-points/get";
import { search as restorePointsSearch } from "./restore-points/search";
import { checkName as restoresCheckName } from "./restores/check-name";
import { start as restoresStart } from "./restores/start";
import { startDisk as restoresStartDisk } from "./restores/start-disk";
import { measureRepositoryNow, repository as settingsRepository } from "./settings/repository";
import { health } from "./system/health";
import { ping } from "./system/ping";
import { services } from "./system/services";
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
import { start as verifyStart } from "./verify/start";
import { get as vmsGet } from "./vms/get";
import { list as vmsList } from "./vms/list";
import { refresh as vmsRefresh } from "./vms/refresh";

export const appRouter = router({
  system: router({ health, ping, services }),
  me: router({ get: meGet }),
  overview: router({ summary, leftovers, resolveLeftover }),
  jobs: router({ get: jobsGet, list: jobsList, events: jobsEvents, cancel: jobsCancel }),
  backups: router({ start: backupsStart }),
  restores: router({ start: restoresStart, startDisk: restoresStartDisk, checkName: restoresCheckName }),
  restorePoints: router({
    get: restorePointsGet,
    search: restorePointsSearch,
    facets: restorePointsFacets,
    downloadAccess,
    requestDownload,
  }),
  vms: router({ list: vmsList, get: vmsGet, refresh: vmsRefresh }),
  engines: router({
    list: enginesList,
    create: enginesCreate,
    update: enginesUpdate,
    setEnabled: enginesSetEnabled,
    testConnection: enginesTestConnection,
    fetchCa: enginesFetchCa,
    restoreTargets: enginesRestoreTargets,
  }),
  settings: router({ repository: settingsRepository, measureRepository: measureRepositoryNow }),
  events: router({ subscribe: eventsSubscribe }),
  verify: router({ start: verifyStart }),
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
  policies: policiesRouter,
  notifications: router({
    list: notificationsList,
    unreadCount: notificationsUnreadCount,
    markRead: notificationsMarkRead,
  }),
});

export type AppRouter = typeof appRouter;
