import { page, requireActor } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const notificationsListInput = z.object({
  unreadOnly: z.boolean().default(false),
  cursor: z.string().optional(),
  limit: z.number().int().min(1).max(100).default(20),
});
export const notificationView = z.object({
  id: z.string(),
  kind: z.string(),
  title: z.string(),
  body: z.string(),
  link: z.string().nullable(),
  createdAt: z.date(),
  read: z.boolean(),
});
export const notificationsListOutput = z.object({ items: z.array(notificationView), hasMore: z.boolean() });

/** The caller's own notifications, newest first. */
export const list = procedure
  .meta({ permission: "authenticated" })
  .input(notificationsListInput)
  .output(notificationsListOutput)
  .query(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    const rows = await ctx.db.notification.findMany({
      where: { userId: actor.userId, ...(input.unreadOnly ? { readAt: null } : {}) },
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
      take: input.limit + 1,
    });
    const { items, hasMore } = page(rows, input.limit);
    return {
      items: items.map((n) => ({
        id: n.id,
        kind: n.kind,
        title: n.title,
        body: n.body,
        link: n.link,
        createdAt: n.createdAt,
        read: n.readAt !== null,
      })),
      hasMore,
    };
  });

export const unreadCountOutput = z.object({ unread: z.number().int() });

/** How many of the caller's notifications are unread (the bell's badge). */
export const unreadCount = procedure
  .meta({ permission: "authenticated" })
  .output(unreadCountOutput)
  .query(async ({ ctx }) => {
    const actor = requireActor(ctx);
    return { unread: await ctx.db.notification.count({ where: { userId: actor.userId, readAt: null } }) };
  });

export const markReadInput = z.object({
  /** These notifications; all of the caller's when omitted. */
  ids: z.array(z.string()).max(500).optional(),
});

/** Marks the caller's notifications as read (never anyone else's). */
export const markRead = procedure
  .meta({ permission: "authenticated" })
  .input(markReadInput)
  .output(z.object({ updated: z.number().int() }))
  .mutation(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    const res = await ctx.db.notification.updateMany({
      where: { userId: actor.userId, readAt: null, ...(input.ids ? { id: { in: input.ids } } : {}) },
      data: { readAt: new Date() },
    });
    return { updated: res.count };
  });
