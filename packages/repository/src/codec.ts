import { createRequire } from "node:module";
import { promisify } from "node:util";
import zlib from "node:zlib";
import { decompress as decompressPureJs } from "fzstd";

/** How an object's payload is compressed; the number is what its header records. */
export const CODEC_IDS = { none: 0, zstd: 1, deflate: 2 } as const;
export type CodecName = keyof typeof CODEC_IDS;

export function codecName(id: number): CodecName | undefined {
  return (Object.keys(CODEC_IDS) as CodecName[]).find((n) => CODEC_IDS[n] === id);
}

interface ZstdBinding {
  compress(data: Buffer, level?: number | null): Promise<Buffer>;
  decompress(data: Buffer): Promise<Buffer>;
}

export const DEFAULT_ZSTD_MODULE = "@mongodb-js/zstd";

const loaded = new Map<string, Promise<ZstdBinding | Error>>();

/** Loads (once per process) and smoke-tests the zstd binding; an Error when it cannot be used here. */
function loadZstd(moduleName: string): Promise<ZstdBinding | Error> {
  let p = loaded.get(moduleName);
  if (!p) {
    p = (async () => {
      try {
        // The default by a literal name: bundlers (Next's server build) can only keep a require they can read.
        const require = createRequire(import.meta.url);
        const binding = (
          moduleName === DEFAULT_ZSTD_MODULE ? require("@mongodb-js/zstd") : require(moduleName)
        ) as ZstdBinding;
        const probe = Buffer.from("lifeboat zstd probe ".repeat(8));
        const back = await binding.decompress(await binding.compress(probe, 3));
        if (!back.equals(probe)) return new Error("the binding does not round-trip a probe");
        return binding;
      } catch (e) {
        return e instanceof Error ? e : new Error(String(e));
      }
    })();
    loaded.set(moduleName, p);
  }
  return p;
}

const deflateRaw = promisify(zlib.deflateRaw);
const inflateRaw = promisify(zlib.inflateRaw);

// zstd's largest block regenerates 128 KiB (format spec §3.1.1.2.3).
const ZSTD_BLOCK_MAX = 128 * 1024;

/**
 * Upper bound of what a zstd payload decompresses to, from its frame and block headers, without
 * decompressing. The binding decompresses whole payloads into memory, so a hostile payload (a "bomb" of
 * many frames) must be refused before it is handed over.
 */
export function zstdDecompressedBound(data: Buffer): number {
  let pos = 0;
  let bound = 0;
  const need = (n: number) => {
    if (pos + n > data.length) throw new Error("zstd data is truncated");
  };
  while (pos < data.length) {
    need(5);
    if (data.readUInt32LE(pos) !== 0xfd2fb528) throw new Error("not a zstd frame");
    const fhd = data[pos + 4] ?? 0;
    pos += 5;
    if (fhd & 0x08) throw new Error("zstd frame header has its reserved bit set");
    const fcsFlag = fhd >> 6;
    const singleSegment = (fhd >> 5) & 1;
    if (fhd & 0x03) throw new Error("zstd frame needs a dictionary");
    const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag] ?? 0;
    need((singleSegment ? 0 : 1) + fcsBytes);
    pos += singleSegment ? 0 : 1;
    // Declared content size: decoders may allocate it up front, so it must fit what the blocks can hold.
    const declared =
      fcsBytes === 0
        ? 0
        : fcsBytes === 8
          ? Number(data.readBigUInt64LE(pos))
          : data.readUIntLE(pos, fcsBytes) + (fcsBytes === 2 ? 256 : 0);
    pos += fcsBytes;
    const frameStart = bound;
    for (;;) {
      need(3);
      const header = data.readUIntLE(pos, 3);
      pos += 3;
      const last = header & 1;
      const type = (header >> 1) & 3;
      const size = header >> 3;
      if (type === 0) {
        need(size);
        pos += size;
        bound += size;
      } else if (type === 1) {
        need(1);
        pos += 1;
        bound += size;
      } else if (type === 2) {
        need(size);
        pos += size;
        bound += ZSTD_BLOCK_MAX;
      } else throw new Error("zstd block of reserved type");
      if (last) break;
    }
    if (declared > bound - frameStart)
      throw new Error(`zstd frame declares ${declared} bytes, more than its blocks can hold`);
    if (fhd & 0x04) {
      need(4);
      pos += 4;
    }
  }
  return bound;
}

export interface CodecOptions {
  /** Module that provides zstd (default `@mongodb-js/zstd`); another name simulates a missing binding. */
  zstdModule?: string;
  /** zstd level (default 3). */
  level?: number;
  /** Told once when zstd cannot be loaded and deflate is used instead. */
  onWarning?: (message: string) => void;
}

/** Compression for new objects (zstd, else deflate) and decompression of any recorded codec. */
export class Codecs {
  private constructor(
    private readonly zstd: ZstdBinding | Error,
    private readonly level: number,
  ) {}

  static async load(options: CodecOptions = {}): Promise<Codecs> {
    const zstd = await loadZstd(options.zstdModule ?? DEFAULT_ZSTD_MODULE);
    if (zstd instanceof Error) {
      const warn =
        options.onWarning ?? ((m: string) => process.emitWarning(m, { code: "LIFEBOAT_ZSTD_UNAVAILABLE" }));
      warn(
        `zstd is unavailable (${zstd.message.split("\n")[0]}); compressing new chunks with deflate, reading zstd chunks with a slower decoder`,
      );
    }
    return new Codecs(zstd, options.level ?? 3);
  }

  /** The codec new objects are compressed with. */
  get preferred(): "zstd" | "deflate" {
    return this.zstd instanceof Error ? "deflate" : "zstd";
  }

  /** Compresses `plain`; keeps it as is when compression saves less than ~3%, which also makes reads cheaper. */
  async compress(plain: Buffer): Promise<{ codec: CodecName; data: Buffer }> {
    if (plain.length === 0) return { codec: "none", data: plain };
    const data =
      this.zstd instanceof Error
        ? await deflateRaw(plain, { level: 1 })
        : await this.zstd.compress(plain, this.level);
    if (data.length >= plain.length - (plain.length >> 5)) return { codec: "none", data: plain };
    return { codec: this.preferred, data };
  }

  /**
   * Decompresses a payload that must yield exactly `plainLength` bytes. Throws a plain Error describing
   * the problem; callers wrap it with the object's name.
   */
  async decompress(codec: CodecName, data: Buffer, plainLength: number): Promise<Buffer> {
    let out: Buffer;
    if (codec === "none") out = data;
    else if (codec === "deflate") {
      try {
        out = await inflateRaw(data, { maxOutputLength: Math.max(1, plainLength) });
      } catch (e) {
        throw new Error(`deflate data is invalid (${e instanceof Error ? e.message : String(e)})`);
      }
    } else {
      const bound = zstdDecompressedBound(data);
      // Our writer's frames regenerate at most plainLength plus one partial block; allow slack, refuse bombs.
      if (bound > 2 * plainLength + ZSTD_BLOCK_MAX)
        throw new Error(
          `zstd data could expand to ${bound} bytes, far more than the recorded ${plainLength}`,
        );
      try {
        if (this.zstd instanceof Error) {
          // Without the binding, existing chunks stay readable through a pure-JS decoder (synchronous, slower).
          const u = decompressPureJs(data);
          out = Buffer.from(u.buffer, u.byteOffset, u.byteLength);
        } else out = await this.zstd.decompress(data);
      } catch (e) {
        throw new Error(`zstd data is invalid (${e instanceof Error ? e.message : String(e)})`);
      }
    }
    if (out.length !== plainLength)
      throw new Error(`it decompresses to ${out.length} bytes, not the recorded ${plainLength}`);
    return out;
  }
}
