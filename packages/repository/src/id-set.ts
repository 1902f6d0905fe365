/**
 * A compact set of chunk ids for gc's mark phase: the first 64 bits of each id in a sorted typed array,
 * 8 bytes per chunk (10 million chunks, 40 TiB of unique data at 4 MiB, take 80 MB). Two ids sharing those
 * 64 bits look the same; for gc that can only keep a chunk, never lose one.
 */
export class ChunkIdSet {
  private parts: BigUint64Array[] = [];
  private current = new BigUint64Array(1 << 16);
  private fill = 0;
  private sorted: BigUint64Array | undefined;
  private seen: Uint8Array | undefined;

  private static key(id: string): bigint {
    return BigInt(`0x${id.slice(0, 16)}`);
  }

  add(id: string): void {
    if (this.sorted) throw new Error("ChunkIdSet is frozen");
    if (this.fill === this.current.length) {
      this.parts.push(this.current);
      this.current = new BigUint64Array(this.current.length * 2);
      this.fill = 0;
    }
    this.current[this.fill++] = ChunkIdSet.key(id);
  }

  /** Ends adding: sorts and removes duplicates. */
  freeze(): void {
    if (this.sorted) return;
    const total = this.parts.reduce((n, p) => n + p.length, 0) + this.fill;
    const all = new BigUint64Array(total);
    let at = 0;
    for (const p of this.parts) {
      all.set(p, at);
      at += p.length;
    }
    all.set(this.current.subarray(0, this.fill), at);
    this.parts = [];
    this.current = new BigUint64Array(0);
    all.sort();
    let n = 0;
    for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[n - 1]) all[n++] = all[i] ?? 0n;
    this.sorted = all.slice(0, n);
    this.seen = new Uint8Array(n);
  }

  get size(): number {
    this.freeze();
    return this.sorted?.length ?? 0;
  }

  /** Whether `id` was added; also notes that it was seen (see `unseen`). */
  has(id: string): boolean {
    this.freeze();
    const a = this.sorted as BigUint64Array;
    const k = ChunkIdSet.key(id);
    let lo = 0;
    let hi = a.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = a[mid] as bigint;
      if (v === k) {
        if (this.seen) this.seen[mid] = 1;
        return true;
      }
      if (v < k) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** How many added ids were never looked up with `has`: referenced chunks the sweep did not find. */
  unseen(): number {
    this.freeze();
    return this.seen?.reduce((n, s) => n + (s ? 0 : 1), 0) ?? 0;
  }
}
