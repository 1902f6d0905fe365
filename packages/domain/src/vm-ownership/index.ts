export { type RecomputeResult, type RecomputeScope, recomputeVmTeams, recomputeVmTeamsIn } from "./recompute";
export {
  countRuleMatches,
  describeVmRule,
  type OtherTeamVms,
  otherTeamsMatched,
  otherTeamVms,
  type VmRuleChange,
  type VmRuleInput,
  validateVmRuleChange,
  vmRuleChange,
  vmRuleInput,
} from "./rules";
export {
  actingTeamForVm,
  inTeamScope,
  requireTeamScope,
  requireVmInScope,
  restorePointWhere,
  teamRowWhere,
  vmInScopeSql,
  vmWhere,
} from "./scope";
