// A backup writer that dies: opens a repository and a writer session with a 1 s lease, writes one layer (no
// restore point), says so on stdout, and waits to be killed (the gc test sends SIGKILL: no close, no cleanup).
import { randomBytes } from "node:crypto";
import { LocalDirectoryBackend, openRepository } from "../src";

const [dir] = process.argv.slice(2);
if (!dir) throw new Error("usage: dying-writer.ts <repository folder>");
const repo = await openRepository(new LocalDirectoryBackend(dir));
const session = await repo.openSession("backup of web01 (killed)", { leaseMs: 1000 });
async function* segments() {
  yield { offset: 0, data: randomBytes(2 * repo.chunkSize) };
}
const layer = await repo.writeLayer(segments(), { imageId: "img-killed" }, { session });
process.stdout.write(`${JSON.stringify({ sessionId: session.id, layerId: layer.layerId })}\n`);
setInterval(() => undefined, 60_000);
