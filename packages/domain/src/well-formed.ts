/**
 * The one rule for text and dates that come from outside: PostgreSQL stores no NUL in text or jsonb, a lone
 * UTF-16 surrogate is no Unicode at all (Prisma's JSON encoding of it fails), and a date outside the years
 * 0001–9999 has no ISO form PostgreSQL or Prisma accepts. The API checks every call's input against it
 * (`malformedInput`); the audit writer makes its own strings safe with `wellFormedText`.
 */

// Without the `u` flag these match single UTF-16 code units: a high surrogate not followed by a low one, or
// a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, "g");

// The first and last instants with a four-digit year (Date.UTC maps the years 0–99 to 1900–1999).
const FIRST_INSTANT = new Date(0).setUTCFullYear(1, 0, 1);
const LAST_INSTANT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

function textProblem(s: string): string | null {
  if (s.includes("\u0000")) return "contains a NUL character (U+0000), which Lifeboat does not accept";
  const lone = LONE_SURROGATE.exec(s);
  if (lone) {
    const unit = lone[0].charCodeAt(0).toString(16).toUpperCase();
    return `contains a lone UTF-16 surrogate (U+${unit}); text must be valid Unicode`;
  }
  return null;
}

function dateProblem(d: Date): string | null {
  const t = d.getTime();
  if (Number.isNaN(t)) return "is not a valid date";
  if (t < FIRST_INSTANT || t > LAST_INSTANT) return "is outside the years 0001 to 9999";
  return null;
}

/** Where a value sits: a linked list from the value up to the root, so walking never copies a path. */
type Path = { key: string | number; up: Path } | null;

/** Keys of a path the message names at most (the innermost ones): the message is stored in the audit row. */
const PATH_KEYS = 8;

/** A readable path for the message; keys are escaped so the message itself stays well-formed. */
function pathText(at: Path): string {
  const keys: (string | number)[] = [];
  let depth = 0;
  for (let p = at; p; p = p.up, depth++) if (depth < PATH_KEYS) keys.unshift(p.key);
  let out = depth > PATH_KEYS ? "…" : "";
  for (const key of keys) {
    if (typeof key === "number") out += `[${key}]`;
    else {
      const escaped = textProblem(key) ? JSON.stringify(key).slice(1, -1) : key;
      const safe = escaped.length > 100 ? `${escaped.slice(0, 100)}…` : escaped;
      out += out ? `.${safe}` : safe;
    }
  }
  return out;
}

function describe(path: Path, kind: "text" | "date" | "key", problem: string): string {
  const where = path ? `"${pathText(path)}"` : "";
  if (kind === "key") return `A field name in the input${where ? ` at ${where}` : ""} ${problem}.`;
  const what = kind === "date" ? "date" : "text";
  return where ? `The ${what} in ${where} ${problem}.` : `The input ${what} ${problem}.`;
}

/**
 * What is wrong with the first malformed string (value or key) or date in `value`, as a sentence naming where
 * it is, or null when there is nothing. Walks plain objects, arrays, Maps and Sets without recursion, so a
 * deeply nested input cannot exhaust the stack.
 */
export function malformedInput(value: unknown): string | null {
  const stack: { value: unknown; path: Path }[] = [{ value, path: null }];
  const seen = new Set<object>();
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { value: v, path } = item;
    if (typeof v === "string") {
      const p = textProblem(v);
      if (p) return describe(path, "text", p);
      continue;
    }
    if (v instanceof Date) {
      const p = dateProblem(v);
      if (p) return describe(path, "date", p);
      continue;
    }
    if (typeof v !== "object" || v === null || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof Map || v instanceof Set) {
      // superjson's Map keys may be anything: check them as values at the Map's own path.
      for (const [key, child] of v.entries()) {
        stack.push({ value: child, path: typeof key === "string" ? { key, up: path } : path });
        stack.push({ value: key, path });
      }
      continue;
    }
    const array = Array.isArray(v);
    for (const [key, child] of Object.entries(v)) {
      const p = array ? null : textProblem(key);
      if (p) return describe(path, "key", p);
      stack.push({ value: child, path: { key: array ? Number(key) : key, up: path } });
    }
  }
  return null;
}

/** `s` with every NUL and lone surrogate replaced by U+FFFD, for text the writer must store whatever it is. */
export function wellFormedText(s: string): string {
  return s.replaceAll("\u0000", "\uFFFD").replace(LONE_SURROGATES, "\uFFFD");
}
