import { createTransport } from "nodemailer";

export interface SmtpConfig {
  /** smtp://user:password@host:587 (STARTTLS when offered) or smtps://user:password@host:465. */
  url: string;
  /** The From header, e.g. "Lifeboat <lifeboat@example.com>". */
  from: string;
}

/** Sends one plain-text message. Certificates are verified against the system's CAs. */
export async function sendEmail(
  config: SmtpConfig,
  message: { to: string; subject: string; text: string },
): Promise<void> {
  const transport = createTransport({
    url: config.url,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  try {
    await transport.sendMail({ from: config.from, ...message });
  } finally {
    transport.close();
  }
}
