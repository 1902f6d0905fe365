import { policyDetail, policyDetailView, policyIdInput, requireActor } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const policiesGetInput = z.object({ policyId: policyIdInput });
export const policiesGetOutput = policyDetailView;

/** One policy with its schedule in words and next runs, its VMs, latest runs and pending changes. */
export const get = procedure
  .meta({ permission: "policy:read" })
  .input(policiesGetInput)
  .output(policiesGetOutput)
  .query(({ ctx, input }) => policyDetail(ctx.db, requireActor(ctx), input.policyId));
