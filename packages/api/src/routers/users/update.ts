import { requireActor, updateUserAccount, userUpdateRequest, userView } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const usersUpdateInput = userUpdateRequest;

/** Renames an account, grants or takes back site administration, disables or enables it. */
export const update = procedure
  .meta({ permission: "site:users" })
  .input(usersUpdateInput)
  .output(userView)
  .mutation(({ ctx, input }) => updateUserAccount(ctx, requireActor(ctx), input));
