import { createHmac } from "node:crypto";

export interface WebhookConfig {
  url: string;
  /** HMAC-SHA256 key; the receiver recomputes the signature to trust the request. */
  secret: string;
}

const TIMEOUT_MS = 10_000;

/**
 * The signature a receiver checks: `sha256=` + hex HMAC-SHA256 over `<timestamp>.<raw body>`, with the value of
 * the `X-Lifeboat-Timestamp` header (seconds) as timestamp, so that an old request cannot be replayed as new.
 */
export function signWebhookBody(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/** POSTs one event as JSON. Throws on a network error, a timeout or a non-2xx answer. */
export async function postWebhook(
  config: WebhookConfig,
  payload: { id: string; type: string },
): Promise<void> {
  const body = JSON.stringify(payload);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const res = await fetch(config.url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "user-agent": "Lifeboat-Webhook/1",
      "x-lifeboat-event": payload.type,
      "x-lifeboat-delivery": payload.id,
      "x-lifeboat-timestamp": timestamp,
      "x-lifeboat-signature": signWebhookBody(config.secret, timestamp, body),
    },
    body,
    redirect: "manual",
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  // Drain the body so that the connection is released.
  await res.arrayBuffer().catch(() => undefined);
  if (!res.ok) throw new Error(`the webhook answered HTTP ${res.status}`);
}
