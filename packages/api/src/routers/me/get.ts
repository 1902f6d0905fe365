import { meView, myAccount, requireActor } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const meOutput = meView;

/** The caller's own account and team roles (drives the navigation). */
export const get = procedure
  .meta({ permission: "authenticated" })
  .output(meOutput)
  .query(({ ctx }) => myAccount(ctx.db, requireActor(ctx)));
