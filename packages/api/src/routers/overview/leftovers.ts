import {
  leftoverItem,
  leftoversQuery,
  listLeftovers,
  requireActor,
  resolveLeftover as resolveLeftoverOf,
} from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

/**
 * What jobs created on an engine and could not remove (snapshots, transfers, disks), newest first: the operator
 * removes them on the engine, then marks them resolved here.
 */
export const leftovers = procedure
  .meta({ permission: "job:read" })
  .input(leftoversQuery)
  .output(z.array(leftoverItem))
  .query(({ ctx, input }) => listLeftovers(ctx.db, requireActor(ctx), input));

export const resolveLeftoverInput = z.object({ id: z.string().uuid() });

/** Marks a leftover resolved (after removing it on the engine): it leaves the overview's attention list. */
export const resolveLeftover = procedure
  .meta({ permission: "job:cancel" })
  .input(resolveLeftoverInput)
  .output(z.object({ id: z.string(), resolvedAt: z.date() }))
  .mutation(({ ctx, input }) => resolveLeftoverOf(ctx, requireActor(ctx), input.id));
