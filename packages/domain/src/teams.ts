import type { Db } from "@lifeboat/db";
import { z } from "zod";
import { AppError } from "./errors";
import { TEAM_ROLES } from "./permissions";

export const teamRole = z.enum(TEAM_ROLES);
export const teamIdInput = z.string().min(1).max(100);

export const teamSettings = z.object({
  id: z.string(),
  name: z.string(),
  slug: z.string(),
  requireApprovalForRestores: z.boolean(),
  requireApprovalForDownloads: z.boolean(),
  approvalTtlHours: z.number().int(),
  createdAt: z.date(),
});

/** Refuses a change that would leave a team that has admins without any (only site admins may do that). */
export async function keepOneAdmin(db: Db, teamId: string, leavingUserId: string): Promise<void> {
  const admins = await db.membership.findMany({ where: { teamId, role: "admin" }, select: { userId: true } });
  if (admins.length === 1 && admins[0]?.userId === leavingUserId)
    throw new AppError("BAD_REQUEST", "A team needs at least one admin: make someone else admin first.");
}
