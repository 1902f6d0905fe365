/** A layer as far as chain composition is concerned: its file name and the backing name its header stores. */
export interface ChainLink {
  name: string;
  /** Backing file name from the qcow2 header (oVirt: the bare parent UUID); null for a base. */
  backingName: string | null;
}

/** The layers do not form one linear chain. The message names the files involved. */
export class ChainError extends Error {
  override name = "ChainError";
}

/** Last path component: path-style backing names (`../images/x/<uuid>`) match on it. */
export function backingKey(backingName: string): string {
  const parts = backingName.split("/");
  return parts[parts.length - 1] ?? backingName;
}

/** Does file `fileName` satisfy backing name `backingName`? Exact, or the same name with an extension. */
export function backingNameMatches(backingName: string, fileName: string): boolean {
  const key = backingKey(backingName);
  const base = backingKey(fileName);
  if (base === key) return true;
  const dot = base.indexOf(".");
  return dot > 0 && base.slice(0, dot) === key;
}

const list = (names: string[]) => {
  const shown = names.slice(0, 8).join(", ");
  return names.length > 8 ? `${shown} and ${names.length - 8} more` : shown;
};

/**
 * Orders the layers of one disk base → top by their backing names. Refuses missing parents, forks (two
 * layers on one parent), several bases and loops, naming the files.
 */
export function composeChain<T extends ChainLink>(layers: readonly T[]): T[] {
  if (layers.length === 0) throw new ChainError("no layer files to compose a chain from");
  const seen = new Set<string>();
  for (const l of layers) {
    if (seen.has(l.name)) throw new ChainError(`layer ${l.name} is listed twice`);
    seen.add(l.name);
  }

  const parentOf = new Map<T, T>();
  for (const l of layers) {
    if (l.backingName === null) continue;
    const backing = l.backingName;
    const exact = layers.filter((p) => backingKey(p.name) === backingKey(backing));
    const candidates = exact.length > 0 ? exact : layers.filter((p) => backingNameMatches(backing, p.name));
    if (candidates.length === 0)
      throw new ChainError(
        `${l.name} has backing file "${backing}", which is missing (layers: ${list(layers.map((x) => x.name))})`,
      );
    if (candidates.length > 1)
      throw new ChainError(
        `${l.name} has backing file "${backing}", which matches several layers: ${list(candidates.map((x) => x.name))}`,
      );
    parentOf.set(l, candidates[0]!);
  }

  const childOf = new Map<T, T>();
  for (const [child, parent] of parentOf) {
    const other = childOf.get(parent);
    if (other)
      throw new ChainError(`fork: both ${other.name} and ${child.name} have ${parent.name} as backing file`);
    childOf.set(parent, child);
  }

  const bases = layers.filter((l) => l.backingName === null);
  if (bases.length > 1)
    throw new ChainError(`several base layers (without backing file): ${list(bases.map((b) => b.name))}`);

  const ordered: T[] = [];
  for (let cur = bases[0]; cur; cur = childOf.get(cur)) ordered.push(cur);
  if (ordered.length < layers.length) {
    // Every layer off the base's line has exactly one parent and no forks exist: they sit on a loop.
    const start = layers.find((l) => !ordered.includes(l))!;
    const loop: string[] = [];
    const onLoop = new Set<T>();
    let cur: T | undefined = start;
    while (cur && !onLoop.has(cur)) {
      onLoop.add(cur);
      loop.push(cur.name);
      cur = parentOf.get(cur);
    }
    if (cur) loop.push(cur.name);
    throw new ChainError(`backing files form a loop: ${loop.join(" -> ")}`);
  }
  return ordered;
}
