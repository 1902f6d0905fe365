/**
 * BLAKE2b (RFC 7693) with a configurable digest size. Node's crypto only offers the fixed 64-byte
 * `blake2b512`, and imageio hashes with a 32-byte digest, which is a different parameter block, not a
 * truncation. 64-bit words are kept as (lo, hi) pairs in Uint32Arrays.
 */

const IV32 = new Uint32Array([
  0xf3bcc908, 0x6a09e667, 0x84caa73b, 0xbb67ae85, 0xfe94f82b, 0x3c6ef372, 0x5f1d36f1, 0xa54ff53a, 0xade682d1,
  0x510e527f, 0x2b3e6c1f, 0x9b05688c, 0xfb41bd6b, 0x1f83d9ab, 0x137e2179, 0x5be0cd19,
]);

const SIGMA = [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
  11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4, 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8,
  9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13, 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9,
  12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11, 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10,
  6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5, 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
].map((x) => x * 2);

const v = new Uint32Array(32);
const m = new Uint32Array(32);

function add64(a: number, b: number): void {
  const o0 = v[a]! + v[b]!;
  let o1 = v[a + 1]! + v[b + 1]!;
  if (o0 >= 0x100000000) o1++;
  v[a] = o0;
  v[a + 1] = o1;
}

function add64c(a: number, b0: number, b1: number): void {
  const o0 = v[a]! + b0;
  let o1 = v[a + 1]! + b1;
  if (o0 >= 0x100000000) o1++;
  v[a] = o0;
  v[a + 1] = o1;
}

function g(a: number, b: number, c: number, d: number, ix: number, iy: number): void {
  const x0 = m[ix]!;
  const x1 = m[ix + 1]!;
  const y0 = m[iy]!;
  const y1 = m[iy + 1]!;
  add64(a, b);
  add64c(a, x0, x1);
  let xor0 = v[d]! ^ v[a]!;
  let xor1 = v[d + 1]! ^ v[a + 1]!;
  v[d] = xor1;
  v[d + 1] = xor0;
  add64(c, d);
  xor0 = v[b]! ^ v[c]!;
  xor1 = v[b + 1]! ^ v[c + 1]!;
  v[b] = (xor0 >>> 24) ^ (xor1 << 8);
  v[b + 1] = (xor1 >>> 24) ^ (xor0 << 8);
  add64(a, b);
  add64c(a, y0, y1);
  xor0 = v[d]! ^ v[a]!;
  xor1 = v[d + 1]! ^ v[a + 1]!;
  v[d] = (xor0 >>> 16) ^ (xor1 << 16);
  v[d + 1] = (xor1 >>> 16) ^ (xor0 << 16);
  add64(c, d);
  xor0 = v[b]! ^ v[c]!;
  xor1 = v[b + 1]! ^ v[c + 1]!;
  v[b] = (xor1 >>> 31) ^ (xor0 << 1);
  v[b + 1] = (xor0 >>> 31) ^ (xor1 << 1);
}

export class Blake2b {
  private readonly h = new Uint32Array(16);
  private readonly buf = new Uint8Array(128);
  /** Little-endian word view of the block (x86 / ARM LE hosts). */
  private readonly words = new Uint32Array(this.buf.buffer, 0, 32);
  private used = 0;
  /** Bytes compressed so far (below 2^53, so the high counter word stays 0 in practice). */
  private total = 0;

  constructor(private readonly outLen = 64) {
    if (outLen < 1 || outLen > 64) throw new RangeError("BLAKE2b digest size must be 1..64");
    if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
      throw new Error("BLAKE2b needs a little-endian host");
    this.h.set(IV32);
    this.h[0] = (this.h[0] as number) ^ (0x01010000 ^ outLen);
  }

  private compress(last: boolean): void {
    for (let i = 0; i < 16; i++) {
      v[i] = this.h[i] as number;
      v[i + 16] = IV32[i] as number;
    }
    v[24] = (v[24] as number) ^ (this.total >>> 0);
    v[25] = (v[25] as number) ^ Math.floor(this.total / 0x100000000);
    if (last) {
      v[28] = ~(v[28] as number);
      v[29] = ~(v[29] as number);
    }
    m.set(this.words);
    for (let r = 0; r < 12; r++) {
      const s = r * 16;
      g(0, 8, 16, 24, SIGMA[s]!, SIGMA[s + 1]!);
      g(2, 10, 18, 26, SIGMA[s + 2]!, SIGMA[s + 3]!);
      g(4, 12, 20, 28, SIGMA[s + 4]!, SIGMA[s + 5]!);
      g(6, 14, 22, 30, SIGMA[s + 6]!, SIGMA[s + 7]!);
      g(0, 10, 20, 30, SIGMA[s + 8]!, SIGMA[s + 9]!);
      g(2, 12, 22, 24, SIGMA[s + 10]!, SIGMA[s + 11]!);
      g(4, 14, 16, 26, SIGMA[s + 12]!, SIGMA[s + 13]!);
      g(6, 8, 18, 28, SIGMA[s + 14]!, SIGMA[s + 15]!);
    }
    for (let i = 0; i < 16; i++) this.h[i] = (this.h[i] as number) ^ (v[i] as number) ^ (v[i + 16] as number);
  }

  update(data: Uint8Array): this {
    for (let i = 0; i < data.length; ) {
      if (this.used === 128) {
        this.total += 128;
        this.compress(false);
        this.used = 0;
      }
      if (this.used === 0 && data.length - i > 128) {
        // Whole blocks straight from the input; the last one waits (it may be the final block).
        this.buf.set(data.subarray(i, i + 128));
        this.used = 128;
        i += 128;
        continue;
      }
      const n = Math.min(128 - this.used, data.length - i);
      this.buf.set(data.subarray(i, i + n), this.used);
      this.used += n;
      i += n;
    }
    return this;
  }

  digest(): Buffer {
    this.total += this.used;
    this.buf.fill(0, this.used);
    this.compress(true);
    const out = Buffer.alloc(64);
    for (let i = 0; i < 16; i++) out.writeUInt32LE(this.h[i] as number, i * 4);
    return out.subarray(0, this.outLen);
  }
}
