import { previewPrune, prunePreviewView, pruneRequest, requireActor } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const prunePreviewInput = pruneRequest;
export const prunePreviewOutput = prunePreviewView;

/** Dry run of the policy's retention: per VM, which of its restore points go and which rule keeps each other. */
export const prunePreview = procedure
  .meta({ permission: "policy:read" })
  .input(prunePreviewInput)
  .output(prunePreviewOutput)
  .query(({ ctx, input }) => previewPrune(ctx.db, requireActor(ctx), input));
