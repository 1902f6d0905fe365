import { Worker } from "node:worker_threads";
import { RepositoryError } from "./errors";

// Plain JS so that it runs the same under tsx, vitest and Next (no TypeScript loader inside the worker).
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createHash, createHmac } = require("node:crypto");
const layer = createHash("sha256");
const zero = Buffer.alloc(1024 * 1024);
const idKey = workerData.idKey ? Buffer.from(workerData.idKey) : undefined;
parentPort.on("message", (m) => {
  try {
    if (m.op === "data") {
      const data = Buffer.from(m.buf, 0, m.length);
      layer.update(data);
      const id = (idKey ? createHmac("sha256", idKey) : createHash("sha256")).update(data).digest("hex");
      parentPort.postMessage({ seq: m.seq, id });
    } else if (m.op === "id") {
      const data = Buffer.from(m.buf, 0, m.length);
      const id = (idKey ? createHmac("sha256", idKey) : createHash("sha256")).update(data).digest("hex");
      parentPort.postMessage({ seq: m.seq, id });
    } else if (m.op === "update") {
      layer.update(m.buf);
      parentPort.postMessage({ seq: m.seq, id: "" });
    } else if (m.op === "zeros") {
      for (let left = m.length; left > 0; left -= zero.length) layer.update(left >= zero.length ? zero : zero.subarray(0, left));
    } else if (m.op === "digest") {
      parentPort.postMessage({ seq: m.seq, id: layer.digest("hex") });
    }
  } catch (e) {
    parentPort.postMessage({ seq: m.seq, error: String(e && e.message || e) });
  }
});
`;

/**
 * The hashing of a layer on its own thread: the SHA-256 of the whole layer (zero runs included, which for a
 * sparse disk is most of the work) and, when writing, each chunk's id. Keeps the event loop free for the
 * download feeding a write or the upload/HTTP response a read feeds. Chunk data is passed without copying: buffers live in SharedArrayBuffers and the caller
 * keeps a buffer untouched until its id has come back.
 */
export class LayerHasher {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (id: string) => void; reject: (e: Error) => void }>();
  private seq = 0;
  private failure: Error | undefined;

  constructor(chunkIdKey: Buffer | undefined) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { idKey: chunkIdKey } });
    this.worker.on("message", (m: { seq: number; id?: string; error?: string }) => {
      const w = this.waiting.get(m.seq);
      this.waiting.delete(m.seq);
      if (m.error !== undefined || m.id === undefined) {
        const e = new RepositoryError(`hashing failed: ${m.error}`);
        if (w) w.reject(e);
        else this.fail(e); // a zero run failed: the layer digest can no longer be right
      } else w?.resolve(m.id);
    });
    this.worker.on("error", (e) => this.fail(e));
    this.worker.on("exit", (code) => {
      if (this.waiting.size > 0) this.fail(new RepositoryError(`hashing thread exited (code ${code})`));
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  private request(message: Record<string, unknown>): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    const seq = ++this.seq;
    const p = new Promise<string>((resolve, reject) => this.waiting.set(seq, { resolve, reject }));
    this.worker.postMessage({ ...message, seq });
    return p;
  }

  /** Adds the first `length` bytes of `shared` (a view of a whole SharedArrayBuffer) to the layer; its chunk id. */
  data(shared: Buffer, length: number): Promise<string> {
    if (!(shared.buffer instanceof SharedArrayBuffer) || shared.byteOffset !== 0)
      throw new Error("LayerHasher.data needs a Buffer over a whole SharedArrayBuffer");
    return this.request({ op: "data", buf: shared.buffer, length });
  }

  /** The chunk id of the first `length` bytes of `shared`, not added to the layer's SHA-256. */
  chunkId(shared: Buffer, length: number): Promise<string> {
    if (!(shared.buffer instanceof SharedArrayBuffer) || shared.byteOffset !== 0)
      throw new Error("LayerHasher.chunkId needs a Buffer over a whole SharedArrayBuffer");
    return this.request({ op: "id", buf: shared.buffer, length });
  }

  /** Adds `data` to the layer (copied to the thread); resolves once hashed, which bounds what is queued. */
  async update(data: Buffer): Promise<void> {
    await this.request({ op: "update", buf: data });
  }

  /** Adds `length` zero bytes to the layer. */
  zeros(length: number): void {
    if (!this.failure) this.worker.postMessage({ op: "zeros", length, seq: 0 });
  }

  /** The layer's SHA-256, after everything added so far. */
  digest(): Promise<string> {
    return this.request({ op: "digest" });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
