import { z } from "zod";

/**
 * zod pieces for the engine's JSON as it really is (ref §1.2): string booleans and integers, epoch-ms dates,
 * singular-keyed collections that are `{}` when empty, plural wrappers for nested lists. Lenient where the engine
 * is (extra fields pass, optional fields may be missing, `"true"` or `true`), strict where a wrong value would
 * do harm (ids, sizes, phases).
 */

/** `"true"`/`"false"` in any case, JSON booleans, and the legacy `0`/`1`. */
export const zBool = z.union([z.boolean(), z.string(), z.number()]).transform((v, ctx) => {
  if (typeof v === "boolean") return v;
  const s = String(v).trim().toLowerCase();
  if (s === "true" || s === "1") return true;
  if (s === "false" || s === "0") return false;
  ctx.addIssue({ code: "custom", message: `not a boolean: ${JSON.stringify(v)}` });
  return z.NEVER;
});

/**
 * A 64-bit integer (sizes, byte counts) as bigint. Decimal strings keep every digit; a JSON number beyond 2^53 has
 * already lost precision in JSON.parse, so it is refused rather than passed on wrong.
 */
export const zBigInt = z.union([z.string(), z.number()]).transform((v, ctx) => {
  if (typeof v === "number") {
    if (Number.isSafeInteger(v)) return BigInt(v);
    ctx.addIssue({ code: "custom", message: `integer ${v} is not exact as a JSON number (beyond 2^53)` });
    return z.NEVER;
  }
  const s = v.trim();
  if (/^-?\d+$/.test(s)) return BigInt(s);
  ctx.addIssue({ code: "custom", message: `not an integer: ${JSON.stringify(v)}` });
  return z.NEVER;
});

/** A small integer (counts, timeouts, block sizes) as a number; refuses values beyond 2^53. */
export const zInt = zBigInt.transform((v, ctx) => {
  if (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)) return Number(v);
  ctx.addIssue({ code: "custom", message: `integer ${v} does not fit a number` });
  return z.NEVER;
});

/** Epoch milliseconds (JSON number or numeric string), or ISO-8601 as XML-minded proxies emit. */
export const zDate = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = typeof v === "number" ? v : /^-?\d+$/.test(v.trim()) ? Number(v) : Date.parse(v);
  if (Number.isFinite(ms)) return new Date(ms);
  ctx.addIssue({ code: "custom", message: `not a date: ${JSON.stringify(v)}` });
  return z.NEVER;
});

/** A link to a related entity: `{id, href}` (sometimes a name too). */
export const zRef = z.object({
  id: z.string().min(1),
  href: z.string().optional(),
  name: z.string().optional(),
});
export interface Ref {
  id: string;
  href?: string;
  name?: string;
}

/** A lower-case enum value, typed loosely: the engine adds values over versions. */
export const zEnum = z.string().transform((s) => s.toLowerCase());

/** A top-level collection: `{"vm": [...]}`, or `{}` when empty. */
export function zCollection<T extends z.ZodType>(key: string, item: T) {
  return z
    .object({ [key]: z.array(item).optional() })
    .transform((o) => (o[key] as z.output<T>[] | undefined) ?? []);
}

/** A nested list inside an entity: `"disks": {"disk": [...]}`, `{}` or absent when empty. */
export function zNested<T extends z.ZodType>(key: string, item: T) {
  return zCollection(key, item)
    .optional()
    .transform((v) => v ?? []);
}

/** Renders a value for the engine's JSON input: booleans and bigints as strings, as the engine emits them. */
export function engineValue(v: boolean | bigint | number | string): string {
  return typeof v === "string" ? v : String(v);
}

/** Formats zod issues as one line: `disk.provisioned_size: not an integer: "x"`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? `${i.path.join(".")}: ` : ""}${i.message}`)
    .join("; ");
}
