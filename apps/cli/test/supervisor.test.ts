import { describe, expect, it } from "vitest";
import { spawnManaged, supervisedRun } from "../src/launcher/processes";
import { type SupervisorEvent, supervise } from "../src/launcher/supervisor";

/** A real child process that lives `ms` and then exits with `code`. */
const child = (ms: number, code = 1) =>
  supervisedRun(
    spawnManaged("t", process.execPath, ["-e", `setTimeout(() => process.exit(${code}), ${ms})`], {
      cwd: process.cwd(),
      env: process.env,
      quiet: true,
    }),
  );

describe("supervise", () => {
  it("restarts a child that exits, with growing delays, and gives up when it keeps dying", async () => {
    const events: SupervisorEvent[] = [];
    const s = supervise(await child(20), {
      name: "worker",
      start: async () => child(20),
      onEvent: (e) => events.push(e),
      backoffMs: [10, 40],
      maxRestarts: 3,
      windowMs: 60_000,
    });
    expect(await s.gaveUp).toBe("exit code 1");
    expect(events.map((e) => e.kind)).toEqual([
      "exited",
      "started",
      "exited",
      "started",
      "exited",
      "started",
      "gave-up",
    ]);
    const delays = events.flatMap((e) => (e.kind === "exited" ? [e.restartInMs] : []));
    expect(delays).toEqual([10, 40, 40]);
    expect(events.at(-1)).toMatchObject({ kind: "gave-up", restarts: 3, reason: "exit code 1" });
    await s.stop();
  });

  it("starts the back-off over after a run that lasted", async () => {
    let clock = 0;
    const events: SupervisorEvent[] = [];
    const s = supervise(await child(10), {
      name: "web",
      start: async () => child(10),
      onEvent: (e) => events.push(e),
      backoffMs: [5, 500],
      maxRestarts: 2,
      windowMs: 60_000,
      stableMs: 60_000,
      // Every reading of the clock is two minutes after the last: each run "lasted" longer than stableMs.
      now: () => (clock += 120_000),
    });
    const exits = () => events.filter((e) => e.kind === "exited").length;
    while (exits() < 3) await new Promise((r) => setTimeout(r, 10));
    await s.stop();
    const delays = events.flatMap((e) => (e.kind === "exited" ? [e.restartInMs] : []));
    expect(delays.length).toBeGreaterThanOrEqual(3);
    expect(new Set(delays)).toEqual(new Set([5])); // never the longer delay, and never given up
    expect(events.some((e) => e.kind === "gave-up")).toBe(false);
  });

  it("retries a start that fails, and stops without restarting once asked to", async () => {
    const events: SupervisorEvent[] = [];
    let attempts = 0;
    const s = supervise(await child(10), {
      name: "postgres",
      start: async () => {
        attempts++;
        if (attempts < 3) throw new Error("port 54330 in use");
        return child(60_000, 0);
      },
      onEvent: (e) => events.push(e),
      backoffMs: [5],
      maxRestarts: 5,
    });
    while (!events.some((e) => e.kind === "started")) await new Promise((r) => setTimeout(r, 10));
    expect(events.map((e) => e.kind)).toEqual(["exited", "restart-failed", "restart-failed", "started"]);
    expect(events[1]).toMatchObject({ error: "port 54330 in use" });
    const stopped = Date.now();
    await s.stop(); // ends the long-running child
    expect(Date.now() - stopped).toBeLessThan(10_000);
    expect(attempts).toBe(3);
    expect(events.at(-1)?.kind).toBe("started");
  });
});
