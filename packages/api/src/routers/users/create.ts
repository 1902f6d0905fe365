import { createUserAccount, requireActor, userCreated, userCreateRequest } from "@lifeboat/domain";
import { accountAuth } from "../../accounts";
import { procedure } from "../../trpc";

export const usersCreateInput = userCreateRequest;
export const usersCreateOutput = userCreated;

/** Creates an account. With a temporary password, the first sign-in must choose a new one. */
export const create = procedure
  .meta({ permission: "site:users" })
  .input(usersCreateInput)
  .output(usersCreateOutput)
  .mutation(({ ctx, input }) => createUserAccount(ctx, requireActor(ctx), input, accountAuth(ctx.auth)));
