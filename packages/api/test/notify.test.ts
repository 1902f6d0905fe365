import { createHmac, randomUUID } from "node:crypto";
import http from "node:http";
import net from "node:net";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { flushNotifications } from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { createTestApi } from "../src/testing";

let t: TestDatabase;

interface Hook {
  headers: http.IncomingHttpHeaders;
  body: string;
}
interface Mail {
  auth: string | null;
  from: string;
  to: string[];
  data: string;
}

/** A receiver for webhooks that answers `status`. */
async function startWebhookReceiver(status = 204) {
  const received: Hook[] = [];
  const server = http.createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    received.push({ headers: req.headers, body });
    res.writeHead(status).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks/lifeboat`, received, close: () => server.close() };
}

/** A tiny SMTP server (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) that keeps what it receives. */
async function startSmtpListener() {
  const mails: Mail[] = [];
  const server = net.createServer((socket) => {
    let buffer = "";
    let inData = false;
    let mail: Mail = { auth: null, from: "", to: [], data: "" };
    const say = (line: string) => socket.write(`${line}\r\n`);
    say("220 localhost ESMTP lifeboat-test");
    socket.on("data", (chunk) => {
      buffer += chunk.toString("utf8");
      for (;;) {
        if (inData) {
          const end = buffer.indexOf("\r\n.\r\n");
          if (end < 0) return;
          mail.data = buffer.slice(0, end);
          buffer = buffer.slice(end + 5);
          inData = false;
          mails.push(mail);
          mail = { auth: mail.auth, from: "", to: [], data: "" };
          say("250 2.0.0 queued");
          continue;
        }
        const nl = buffer.indexOf("\r\n");
        if (nl < 0) return;
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        const verb = line.split(" ")[0]?.toUpperCase();
        if (verb === "EHLO") {
          say("250-localhost");
          say("250-AUTH PLAIN");
          say("250 8BITMIME");
        } else if (verb === "AUTH") {
          mail.auth = Buffer.from(line.split(" ")[2] ?? "", "base64").toString("utf8");
          say("235 2.7.0 authenticated");
        } else if (verb === "MAIL") {
          mail.from = line.slice(10);
          say("250 OK");
        } else if (verb === "RCPT") {
          mail.to.push(line.replace(/^RCPT TO:<(.*)>.*$/i, "$1"));
          say("250 OK");
        } else if (verb === "DATA") {
          inData = true;
          say("354 go ahead");
        } else if (verb === "QUIT") {
          say("221 bye");
          socket.end();
        } else say("250 OK");
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  return { port, mails, close: () => server.close() };
}

const hexBytes = (s: string) =>
  Buffer.from(
    s.replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
    "latin1",
  ).toString("utf8");

/** The decoded Subject header (RFC 2047 Q-encoded words, folded). */
function subjectOf(message: string): string {
  const header = message.split("\r\n\r\n")[0] ?? "";
  const folded = /^Subject: (.*(?:\r\n .*)*)/m.exec(header)?.[1] ?? "";
  return folded
    .split(/\r\n /)
    .map((w) => w.replace(/^=\?UTF-8\?Q\?(.*)\?=$/i, (_, q: string) => hexBytes(q.replaceAll("_", " "))))
    .join("");
}

/** The decoded quoted-printable body. */
function bodyOf(message: string): string {
  const body = message.split("\r\n\r\n").slice(1).join("\r\n\r\n");
  return hexBytes(body.replace(/=\r\n/g, ""));
}

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
});
afterAll(async () => {
  await stopBosses();
  await t.drop();
});

async function setup(api: ReturnType<typeof createTestApi>, label: string) {
  const teamId = randomUUID();
  await t.db.team.create({ data: { id: teamId, name: `Team ${label}`, slug: `team-${label}` } });
  const people: Record<
    string,
    { id: string; email: string; caller: Awaited<ReturnType<typeof api.caller>> }
  > = {};
  for (const role of ["admin", "approver", "operator"]) {
    const email = `${role}-${label}@notify.test`;
    const u = await api.createUser({ email, name: `${role} ${label}` });
    await t.db.membership.create({ data: { id: randomUUID(), teamId, userId: u.id, role } });
    people[role] = { id: u.id, email, caller: await api.caller(await api.signIn(email, u.password)) };
  }
  const p = (role: string) => {
    const x = people[role];
    if (!x) throw new Error(role);
    return x;
  };
  return { teamId, admin: p("admin"), approver: p("approver"), operator: p("operator") };
}

describe("approval notifications", () => {
  it("reach approvers in the app, by signed webhook and by e-mail; the decision reaches the requester", async () => {
    const hook = await startWebhookReceiver();
    const smtp = await startSmtpListener();
    const secret = "webhook-secret-0123456789";
    const api = createTestApi(t.db, t.url, {
      notify: {
        publicUrl: "https://lifeboat.example.com",
        webhook: { url: hook.url, secret },
        smtp: {
          url: `smtp://mailer:mail-password@127.0.0.1:${smtp.port}`,
          from: "Lifeboat <lifeboat@example.com>",
        },
      },
    });
    try {
      const { teamId, admin, approver, operator } = await setup(api, "one");
      // A second approver-capable member: the team admin files the request, so only the approver is asked.
      const req = await admin.caller.teams.requestVmRuleChange({
        teamId,
        change: { op: "add", rule: { kind: "tag", tag: "payments" } },
        reason: "Payments VMs are ours now",
      });
      await flushNotifications();

      const inApp = await t.db.notification.findMany({ where: { kind: "approval.requested", teamId } });
      expect(inApp.map((n) => n.userId)).toEqual([approver.id]);
      expect(inApp[0]?.link).toBe(`/approvals?id=${req.approvalRequestId}`);
      expect((await approver.caller.notifications.unreadCount()).unread).toBe(1);
      expect((await operator.caller.notifications.unreadCount()).unread).toBe(0);

      expect(hook.received).toHaveLength(1);
      const [first] = hook.received;
      const body = JSON.parse(first?.body ?? "{}");
      expect(body).toMatchObject({
        type: "approval.requested",
        teamId,
        url: `https://lifeboat.example.com/approvals?id=${req.approvalRequestId}`,
        data: {
          approvalRequestId: req.approvalRequestId,
          kind: "team.assignment",
          reason: "Payments VMs are ours now",
          requestedBy: { email: admin.email },
        },
      });
      const timestamp = String(first?.headers["x-lifeboat-timestamp"]);
      const expected = createHmac("sha256", secret).update(`${timestamp}.${first?.body}`).digest("hex");
      expect(first?.headers["x-lifeboat-signature"]).toBe(`sha256=${expected}`);
      expect(first?.headers["x-lifeboat-event"]).toBe("approval.requested");
      expect(first?.headers["content-type"]).toBe("application/json");

      expect(smtp.mails).toHaveLength(1);
      expect(smtp.mails[0]?.to).toEqual([approver.email]);
      expect(smtp.mails[0]?.auth).toBe("\u0000mailer\u0000mail-password");
      expect(subjectOf(smtp.mails[0]?.data ?? "")).toBe(
        'Approval needed: Give team Team one every VM tagged "payments" on every engine (0 VMs in the inventory now)',
      );
      expect(bodyOf(smtp.mails[0]?.data ?? "")).toContain("Reason: Payments VMs are ours now");
      expect(bodyOf(smtp.mails[0]?.data ?? "")).toContain(
        `Open in Lifeboat: https://lifeboat.example.com/approvals?id=${req.approvalRequestId}`,
      );

      await approver.caller.approvals.approve({
        id: req.approvalRequestId,
        comment: "Yes, confirmed with ops",
      });
      await flushNotifications();
      expect(hook.received.map((h) => h.headers["x-lifeboat-event"])).toEqual([
        "approval.requested",
        "approval.approved",
      ]);
      expect(smtp.mails.map((m) => m.to)).toEqual([[approver.email], [admin.email]]);
      const told = await admin.caller.notifications.list({ unreadOnly: true });
      expect(told.items.map((n) => n.kind)).toEqual(["approval.approved"]);
      expect(told.items[0]?.body).toContain(`approver one <${approver.email}> approved it`);
      await admin.caller.notifications.markRead({ ids: told.items.map((n) => n.id) });
      expect((await admin.caller.notifications.unreadCount()).unread).toBe(0);
      // Nobody marks someone else's notifications.
      expect((await operator.caller.notifications.markRead({})).updated).toBe(0);
      expect((await approver.caller.notifications.unreadCount()).unread).toBe(1);
    } finally {
      hook.close();
      smtp.close();
    }
  });

  it("a failing webhook or mail server never fails the request, and the secret is never logged", async () => {
    const hook = await startWebhookReceiver(500);
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const secret = "another-webhook-secret-42";
    const api = createTestApi(t.db, t.url, {
      notify: {
        publicUrl: "http://localhost:3000",
        webhook: { url: hook.url, secret },
        // Nothing listens there.
        smtp: { url: "smtp://mailer:smtp-password-xyz@127.0.0.1:9", from: "lifeboat@localhost" },
      },
    });
    try {
      const { teamId, admin } = await setup(api, "two");
      const req = await admin.caller.teams.requestVmRuleChange({
        teamId,
        change: { op: "add", rule: { kind: "tag", tag: "x" } },
        reason: "Testing failures",
      });
      await flushNotifications();
      expect(
        (await t.db.approvalRequest.findUniqueOrThrow({ where: { id: req.approvalRequestId } })).state,
      ).toBe("pending");
      expect(hook.received).toHaveLength(1);
      const logged = errors.mock.calls.map((c) => c.join(" ")).join("\n");
      expect(logged).toMatch(/webhook .* failed: the webhook answered HTTP 500/);
      expect(logged).toMatch(/e-mail .* failed/);
      expect(logged).not.toContain(secret);
      expect(logged).not.toContain("smtp-password-xyz");
    } finally {
      errors.mockRestore();
      hook.close();
    }
  });
});
