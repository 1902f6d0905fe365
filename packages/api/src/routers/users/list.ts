import { listUsers, requireActor, userListQuery, userListView } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const usersListInput = userListQuery;
export const usersListOutput = userListView;

/** Every account, by e-mail (site administrators). */
export const list = procedure
  .meta({ permission: "site:users" })
  .input(usersListInput)
  .output(usersListOutput)
  .query(({ ctx, input }) => listUsers(ctx.db, requireActor(ctx), input));
