import { z } from "zod";
import { correlationIdOf, type EngineClient } from "./client";
import { zCollection, zDate, zEnum, zInt } from "./json";

/** One entry of the engine's audit log (`/events`). */
export interface EngineEvent {
  id: string;
  code?: number;
  /** normal | warning | error | alert */
  severity?: string;
  description: string;
  time?: Date;
  correlationId?: string;
}

const zEvent = z
  .object({
    id: z.string().min(1),
    code: zInt.optional(),
    severity: zEnum.optional(),
    description: z.string().default(""),
    time: zDate.optional(),
    correlation_id: z.string().optional(),
  })
  .transform(
    (e): EngineEvent => ({
      id: e.id,
      code: e.code,
      severity: e.severity,
      description: e.description,
      time: e.time,
      correlationId: e.correlation_id,
    }),
  );
const zEvents = zCollection("event", zEvent);

/** The engine's audit log: where it explains what failed inside an asynchronous command. */
export class Events {
  constructor(private readonly engine: EngineClient) {}

  async list(opts: { search?: string; max?: number; signal?: AbortSignal } = {}): Promise<EngineEvent[]> {
    return this.engine.get("/events", zEvents, {
      query: { search: opts.search, max: opts.max },
      signal: opts.signal,
    });
  }

  /**
   * The newest warning or error logged under a correlation id, newest first by time (then id): the engine's
   * own words for a failure. Undefined when there is none.
   */
  async latestProblem(
    correlationId: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<EngineEvent | undefined> {
    const events = await this.list({
      search: `correlation_id=${correlationIdOf(correlationId)}`,
      max: 50,
      signal: opts.signal,
    });
    return events
      .filter((e) => e.severity === "error" || e.severity === "alert" || e.severity === "warning")
      .sort((a, b) => (b.time?.getTime() ?? 0) - (a.time?.getTime() ?? 0) || Number(b.id) - Number(a.id))[0];
  }
}
