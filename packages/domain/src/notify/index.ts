import { randomUUID } from "node:crypto";
import type { ServerEnv } from "@lifeboat/config";
import type { Db, Prisma } from "@lifeboat/db";
import { type SmtpConfig, sendEmail } from "./email";
import { postWebhook, type WebhookConfig } from "./webhook";

export * from "./inbox";
export { signWebhookBody } from "./webhook";

/**
 * Notifications: an in-app row per recipient (always), and — when configured — one signed webhook POST per
 * event and one e-mail per recipient. External deliveries run in the background so that a slow mail server
 * never holds up an approval; `flushNotifications()` waits for them (tests, shutdown). A failed delivery is
 * logged (never with its secret) and does not fail the operation that caused it.
 */
export interface NotifyConfig {
  /** The URL users open; links in e-mails and webhooks start with it. */
  publicUrl: string;
  webhook?: WebhookConfig;
  smtp?: SmtpConfig;
}

export function notifyConfigFrom(env: ServerEnv): NotifyConfig {
  return {
    publicUrl: env.BETTER_AUTH_URL ?? `http://localhost:${env.PORT}`,
    webhook:
      env.LIFEBOAT_WEBHOOK_URL && env.LIFEBOAT_WEBHOOK_SECRET
        ? { url: env.LIFEBOAT_WEBHOOK_URL, secret: env.LIFEBOAT_WEBHOOK_SECRET }
        : undefined,
    smtp: env.LIFEBOAT_SMTP_URL ? { url: env.LIFEBOAT_SMTP_URL, from: env.LIFEBOAT_SMTP_FROM } : undefined,
  };
}

export interface NotificationEvent {
  /** e.g. "approval.requested" */
  type: string;
  teamId: string | null;
  title: string;
  body: string;
  /** A path inside Lifeboat, e.g. "/approvals?id=…". */
  link: string;
  /** Machine-readable facts for webhook consumers. */
  data: Record<string, unknown>;
}

export interface Recipient {
  id: string;
  email: string;
  name: string;
}

const pending = new Set<Promise<void>>();

/** Waits for every external delivery started so far. */
export async function flushNotifications(): Promise<void> {
  while (pending.size > 0) await Promise.allSettled([...pending]);
}

/** Writes the in-app rows now, and starts the webhook and e-mail deliveries. */
export async function notify(
  db: Db,
  config: NotifyConfig,
  event: NotificationEvent,
  recipients: Recipient[],
): Promise<void> {
  const unique = [...new Map(recipients.map((r) => [r.id, r])).values()];
  if (unique.length > 0)
    await db.notification.createMany({
      data: unique.map((r) => ({
        userId: r.id,
        teamId: event.teamId,
        kind: event.type,
        title: event.title.slice(0, 300),
        body: event.body.slice(0, 2000),
        link: event.link,
      })),
    });
  const url = new URL(event.link, config.publicUrl).toString();
  const deliveries: Promise<void>[] = [];
  if (config.webhook) {
    const payload = {
      id: randomUUID(),
      type: event.type,
      occurredAt: new Date().toISOString(),
      teamId: event.teamId,
      title: event.title,
      body: event.body,
      url,
      data: event.data as Prisma.JsonObject,
    };
    deliveries.push(
      postWebhook(config.webhook, payload).catch((e) =>
        console.error(`[notify] webhook for ${event.type} failed: ${messageOf(e)}`),
      ),
    );
  }
  if (config.smtp && unique.length > 0) {
    const smtp = config.smtp;
    deliveries.push(
      (async () => {
        for (const r of unique)
          await sendEmail(smtp, { to: r.email, subject: event.title, text: emailText(r, event, url) }).catch(
            (e) =>
              console.error(`[notify] e-mail for ${event.type} to one recipient failed: ${messageOf(e)}`),
          );
      })(),
    );
  }
  for (const d of deliveries) {
    pending.add(d);
    void d.finally(() => pending.delete(d));
  }
}

function emailText(r: Recipient, event: NotificationEvent, url: string): string {
  return `Hello ${r.name},\n\n${event.body}\n\nOpen in Lifeboat: ${url}\n\n— Lifeboat\n`;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
