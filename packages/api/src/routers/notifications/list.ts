import {
  listNotifications,
  markNotificationsRead,
  markNotificationsReadRequest,
  notificationListQuery,
  notificationListView,
  requireActor,
  unreadNotifications,
  unreadNotificationsView,
} from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const notificationsListInput = notificationListQuery;
export const notificationsListOutput = notificationListView;

/** The caller's own notifications, newest first. */
export const list = procedure
  .meta({ permission: "authenticated" })
  .input(notificationsListInput)
  .output(notificationsListOutput)
  .query(({ ctx, input }) => listNotifications(ctx.db, requireActor(ctx), input));

export const unreadCountOutput = unreadNotificationsView;

/** How many of the caller's notifications are unread (the bell's badge). */
export const unreadCount = procedure
  .meta({ permission: "authenticated" })
  .output(unreadCountOutput)
  .query(({ ctx }) => unreadNotifications(ctx.db, requireActor(ctx)));

export const markReadInput = markNotificationsReadRequest;

/** Marks the caller's notifications as read (never anyone else's). */
export const markRead = procedure
  .meta({ permission: "authenticated" })
  .input(markReadInput)
  .output(z.object({ updated: z.number().int() }))
  .mutation(({ ctx, input }) => markNotificationsRead(ctx, requireActor(ctx), input));
