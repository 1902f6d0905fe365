import type { Db } from "@lifeboat/db";
import { z } from "zod";
import type { Actor, ServiceContext } from "../context";
import { page } from "../pages";

/** The caller's in-app notifications (the bell): only ever their own rows. */

export const notificationListQuery = z.object({
  unreadOnly: z.boolean().default(false),
  cursor: z.string().optional(),
  limit: z.number().int().min(1).max(100).default(20),
});
export type NotificationListQuery = z.infer<typeof notificationListQuery>;
export const notificationView = z.object({
  id: z.string(),
  kind: z.string(),
  title: z.string(),
  body: z.string(),
  link: z.string().nullable(),
  createdAt: z.date(),
  read: z.boolean(),
});
export const notificationListView = z.object({ items: z.array(notificationView), hasMore: z.boolean() });
export type NotificationListView = z.infer<typeof notificationListView>;

/** The caller's own notifications, newest first. */
export async function listNotifications(
  db: Db,
  actor: Actor,
  input: NotificationListQuery,
): Promise<NotificationListView> {
  const rows = await db.notification.findMany({
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
}

export const unreadNotificationsView = z.object({ unread: z.number().int() });

/** How many of the caller's notifications are unread (the bell's badge). */
export async function unreadNotifications(db: Db, actor: Actor): Promise<{ unread: number }> {
  return { unread: await db.notification.count({ where: { userId: actor.userId, readAt: null } }) };
}

export const markNotificationsReadRequest = z.object({
  /** These notifications; all of the caller's when omitted. */
  ids: z.array(z.string()).max(500).optional(),
});
export type MarkNotificationsReadRequest = z.infer<typeof markNotificationsReadRequest>;

/** Marks the caller's notifications as read (never anyone else's). */
export async function markNotificationsRead(
  ctx: ServiceContext,
  actor: Actor,
  input: MarkNotificationsReadRequest,
): Promise<{ updated: number }> {
  const res = await ctx.db.notification.updateMany({
    where: { userId: actor.userId, readAt: null, ...(input.ids ? { id: { in: input.ids } } : {}) },
    data: { readAt: new Date() },
  });
  return { updated: res.count };
}
