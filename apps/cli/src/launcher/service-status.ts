import os from "node:os";
import type { Db } from "@lifeboat/db";
import type { SupervisorEvent } from "./supervisor";

export type ServiceName = "postgres" | "worker" | "web";

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

/** The log line an operator reads for each supervisor event. */
export function serviceEventLine(e: SupervisorEvent): string {
  switch (e.kind) {
    case "started":
      return `[lifeboat] ${e.name} is running again (restart ${e.restarts})`;
    case "exited":
      return `[lifeboat] ${e.name} exited unexpectedly (${e.reason}); restarting it in ${seconds(e.restartInMs)}`;
    case "restart-failed":
      return `[lifeboat] ${e.name} did not start again (${e.error}); next try in ${seconds(e.restartInMs)}`;
    case "gave-up":
      return `[lifeboat] ${e.name} keeps exiting (${e.reason}; more than ${e.restarts} restarts within ${Math.round(e.windowMs / 60_000)} min): stopping Lifeboat. The lines above from [${e.name}] say why it exits.`;
  }
}

/**
 * Logs supervisor events and keeps this host's service_status rows current, so that the web app can show admins
 * a banner. Writes are best effort: while the database itself is down they fail, and the row written once it is
 * back says what happened.
 */
export function serviceStatusReporter(log: (line: string) => void) {
  const host = os.hostname();
  let db: Db | undefined;
  const last = new Map<string, { reason: string; at: Date }>();
  const write = async (name: string, state: "running" | "restarting" | "failed", restarts: number) => {
    if (!db) return;
    const exit = last.get(name);
    const data = { state, restarts, lastExitReason: exit?.reason ?? null, lastExitAt: exit?.at ?? null };
    await db.serviceStatus
      .upsert({ where: { host_name: { host, name } }, create: { host, name, ...data }, update: data })
      .catch(() => {});
  };
  return {
    attach(client: Db) {
      db = client;
    },
    /** A fresh start: every supervised service running, no restarts yet. */
    async running(names: ServiceName[]) {
      if (!db) return;
      await db.serviceStatus.deleteMany({ where: { host } }).catch(() => {});
      for (const name of names) await write(name, "running", 0);
    },
    report: (e: SupervisorEvent) => {
      log(serviceEventLine(e));
      if (e.kind === "exited" || e.kind === "gave-up") last.set(e.name, { reason: e.reason, at: new Date() });
      const state = e.kind === "started" ? "running" : e.kind === "gave-up" ? "failed" : "restarting";
      void write(e.name, state, e.restarts);
    },
  };
}
