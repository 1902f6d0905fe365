import {
  addMemberRequest,
  addTeamMember,
  memberRequest,
  removeTeamMember,
  requireActor,
  setMemberRoleRequest,
  setTeamMemberRole,
  teamMemberView,
} from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const addMemberInput = addMemberRequest;

/** Adds an account to the team in a role (team admins and site administrators). */
export const addMember = procedure
  .meta({ permission: "team:manage" })
  .input(addMemberInput)
  .output(teamMemberView)
  .mutation(({ ctx, input }) => addTeamMember(ctx, requireActor(ctx), input));

export const setMemberRoleInput = setMemberRoleRequest;

/** Changes a member's role. */
export const setMemberRole = procedure
  .meta({ permission: "team:manage" })
  .input(setMemberRoleInput)
  .output(teamMemberView)
  .mutation(({ ctx, input }) => setTeamMemberRole(ctx, requireActor(ctx), input));

export const removeMemberInput = memberRequest;

/** Removes a member from the team. */
export const removeMember = procedure
  .meta({ permission: "team:manage" })
  .input(removeMemberInput)
  .output(z.object({ removed: z.literal(true) }))
  .mutation(({ ctx, input }) => removeTeamMember(ctx, requireActor(ctx), input));
