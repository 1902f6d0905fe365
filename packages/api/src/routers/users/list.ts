import { page, toUserView, userInclude, userView } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const usersListInput = z.object({
  /** Matches name or e-mail. */
  search: z.string().trim().max(200).optional(),
  /** The e-mail of the last row of the previous page. */
  cursor: z.string().optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
export const usersListOutput = z.object({ items: z.array(userView), hasMore: z.boolean() });

/** Every account, by e-mail (site administrators). */
export const list = procedure
  .meta({ permission: "site:users" })
  .input(usersListInput)
  .output(usersListOutput)
  .query(async ({ ctx, input }) => {
    const rows = await ctx.db.user.findMany({
      where: {
        ...(input.search
          ? {
              OR: [
                { email: { contains: input.search, mode: "insensitive" } },
                { name: { contains: input.search, mode: "insensitive" } },
              ],
            }
          : {}),
        ...(input.cursor ? { email: { gt: input.cursor } } : {}),
      },
      include: userInclude,
      orderBy: { email: "asc" },
      take: input.limit + 1,
    });
    const { items, hasMore } = page(rows, input.limit);
    return { items: items.map(toUserView), hasMore };
  });
