import { badRequest } from "./faults";

/**
 * The subset of the engine's search language the backup tools use: `field=value` (and `!=`, `<`, `>`,
 * `<=`, `>=`), `*` wildcards, quoted values, `and` / `or` (and binds tighter), `sortby field [asc|desc]`,
 * `page N`. A bare word matches any searchable text (as events do with an id).
 */
export type Fields<T> = Record<
  string,
  (item: T) => string | number | undefined | Array<string | number | undefined>
>;

interface Cond {
  field: string | null;
  op: string;
  value: string;
}

export interface SearchQuery {
  /** OR of ANDs. */
  clauses: Cond[][];
  sortBy?: { field: string; desc: boolean };
  page?: number;
}

function tokenize(q: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:"([^"]*)"|'([^']*)'|(!=|<=|>=|=|<|>)|([^\s=<>!"']+))/gy;
  let m: RegExpExecArray | null;
  let last = 0;
  for (;;) {
    m = re.exec(q);
    if (!m) break;
    last = re.lastIndex;
    if (m[1] !== undefined) out.push(`\u0000${m[1]}`);
    else if (m[2] !== undefined) out.push(`\u0000${m[2]}`);
    else out.push((m[3] ?? m[4]) as string);
  }
  if (q.slice(last).trim() !== "") throw badRequest(`Search query syntax error near '${q.slice(last)}'`);
  return out;
}

const OPS = new Set(["=", "!=", "<", ">", "<=", ">="]);
const unquote = (t: string) => (t.startsWith("\u0000") ? t.slice(1) : t);

export function parseSearch(q: string): SearchQuery {
  const toks = tokenize(q.trim());
  const query: SearchQuery = { clauses: [[]] };
  let i = 0;
  while (i < toks.length) {
    const t = toks[i] as string;
    const lower = t.toLowerCase();
    if (lower === "and") {
      i++;
      continue;
    }
    if (lower === "or") {
      query.clauses.push([]);
      i++;
      continue;
    }
    if (lower === "sortby") {
      const field = toks[i + 1];
      if (!field) throw badRequest("Search query syntax error: sortby needs a field");
      const dir = toks[i + 2]?.toLowerCase();
      query.sortBy = { field: field.toLowerCase(), desc: dir === "desc" };
      i += dir === "asc" || dir === "desc" ? 3 : 2;
      continue;
    }
    if (lower === "page") {
      const n = Number(toks[i + 1]);
      if (!Number.isInteger(n) || n < 1) throw badRequest("Search query syntax error: page needs a number");
      query.page = n;
      i += 2;
      continue;
    }
    const op = toks[i + 1];
    if (op && OPS.has(op)) {
      const value = toks[i + 2];
      if (value === undefined) throw badRequest(`Search query syntax error: missing value after '${t}${op}'`);
      (query.clauses[query.clauses.length - 1] as Cond[]).push({
        field: unquote(t).toLowerCase(),
        op,
        value: unquote(value),
      });
      i += 3;
      continue;
    }
    (query.clauses[query.clauses.length - 1] as Cond[]).push({
      field: null,
      op: "=",
      value: `*${unquote(t)}*`,
    });
    i++;
  }
  return query;
}

function wildcard(pattern: string, caseSensitive: boolean): RegExp {
  const esc = pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  return new RegExp(`^${esc}$`, caseSensitive ? "" : "i");
}

function test(values: Array<string | number | undefined>, c: Cond, caseSensitive: boolean): boolean {
  const present = values.filter((v): v is string | number => v !== undefined);
  if (c.op === "=" || c.op === "!=") {
    const re = wildcard(c.value, caseSensitive);
    const hit = present.some((v) => re.test(String(v)));
    return c.op === "=" ? hit : !hit;
  }
  const num = Number(c.value);
  return present.some((v) => {
    const a = typeof v === "number" ? v : Number(v);
    const cmp = Number.isFinite(a) && Number.isFinite(num) ? a - num : String(v).localeCompare(c.value);
    return c.op === "<" ? cmp < 0 : c.op === ">" ? cmp > 0 : c.op === "<=" ? cmp <= 0 : cmp >= 0;
  });
}

/** Filters, sorts and pages `items` with `search`; unknown fields are a syntax error (400), as in the engine. */
export function applySearch<T>(
  items: T[],
  search: string | undefined,
  fields: Fields<T>,
  opts: { caseSensitive: boolean; max?: number },
): T[] {
  let out = items;
  if (search && search.trim() !== "") {
    const q = parseSearch(search);
    for (const clause of q.clauses)
      for (const c of clause)
        if (c.field !== null && !fields[c.field])
          throw badRequest(`Search query syntax error: unknown field '${c.field}'`);
    const valuesOf = (item: T, field: string | null): Array<string | number | undefined> => {
      if (field === null) return Object.values(fields).flatMap((f) => [f(item)].flat());
      return [(fields[field] as (i: T) => ReturnType<Fields<T>[string]>)(item)].flat();
    };
    out = out.filter((item) =>
      q.clauses.some((clause) =>
        clause.every((c) => test(valuesOf(item, c.field), c, c.field === null ? false : opts.caseSensitive)),
      ),
    );
    if (q.sortBy) {
      const f = fields[q.sortBy.field];
      if (!f) throw badRequest(`Search query syntax error: unknown sortby field '${q.sortBy.field}'`);
      const key = (i: T) => String([f(i)].flat()[0] ?? "");
      out = [...out].sort((a, b) => key(a).localeCompare(key(b)) * (q.sortBy?.desc ? -1 : 1));
    }
    if (q.page !== undefined && opts.max !== undefined) out = out.slice((q.page - 1) * opts.max);
  }
  if (opts.max !== undefined && opts.max >= 0) out = out.slice(0, opts.max);
  return out;
}
