/** An engine answer other than success: the HTTP status and the fault body `{reason, detail}`. */
export class EngineFault extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly detail: string,
  ) {
    super(`${reason}: ${detail}`);
  }
}

/** Business validation failed (409), detail in the engine's brackets: `[Cannot remove Snapshot. …]`. */
export const conflict = (text: string) => new EngineFault(409, "Operation Failed", `[${text}]`);

export const notFound = (what: string) =>
  new EngineFault(404, "Operation Failed", `Entity not found: ${what}`);

/** Missing required input, worded like the REST layer: `Disk [provisionedSize] required for add`. */
export const incomplete = (type: string, fields: string[], action = "add") =>
  new EngineFault(400, "Incomplete parameters", `${type} [${fields.join(", ")}] required for ${action}`);

export const badRequest = (text: string) => new EngineFault(400, "Operation Failed", `[${text}]`);

/** Lenient input parsing, as the engine's JSON reader: booleans in any case, "1"/"0", numbers as strings. */
export function inBool(v: unknown, dflt: boolean): boolean {
  if (v === undefined || v === null || v === "") return dflt;
  if (typeof v === "boolean") return v;
  const s = String(v).trim().toLowerCase();
  if (s === "true" || s === "1") return true;
  if (s === "false" || s === "0") return false;
  throw badRequest(`Invalid boolean value '${String(v)}'`);
}

export function inInt(v: unknown, name: string): number | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const n = typeof v === "number" ? v : Number(String(v).trim());
  if (!Number.isSafeInteger(n) || n < 0) throw badRequest(`Invalid integer value '${String(v)}' for ${name}`);
  return n;
}

export function inStr(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}

/** `{"x": {...}}` navigation without `any`. */
export function obj(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** The array inside a JSON wrapper (`{"disk_attachment": [...]}`); a single object counts as one element. */
export function listOf(wrapper: unknown, key: string): Record<string, unknown>[] {
  const inner = obj(wrapper)[key];
  if (Array.isArray(inner)) return inner.map(obj);
  if (inner && typeof inner === "object") return [obj(inner)];
  return [];
}
