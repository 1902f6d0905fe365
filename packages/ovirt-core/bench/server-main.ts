/**
 * The simulated imageio daemon as a separate process for the benchmark, so that the client's CPU and memory
 * are measured alone. Args: <data dir> <read qcow2> <write file> <write file for curl>. Serves the tickets
 * `download` (NBD over the qcow2 image: its data and zero extents), `upload` and `upload-curl` (NBD over the
 * raw files); prints `{"port": N, "caFile": "..."}` once listening.
 */
import { startSimulator } from "@lifeboat/ovirt-sim";
import { serveImage } from "@lifeboat/ovirt-sim/testing";

const [dataDir, readFile, writeFile, curlFile] = process.argv.slice(2);
if (!dataDir || !readFile || !writeFile || !curlFile)
  throw new Error("usage: server-main <data dir> <read qcow2> <write file> <write file for curl>");
const sim = await startSimulator({ dataDir, seed: false });
const hour = 3600;
await serveImage(sim, {
  id: "download",
  file: readFile,
  format: "qcow2",
  ops: ["read"],
  backend: "nbd",
  timeoutS: hour,
});
await serveImage(sim, { id: "upload", file: writeFile, ops: ["write"], backend: "nbd", timeoutS: hour });
await serveImage(sim, { id: "upload-curl", file: curlFile, ops: ["write"], backend: "nbd", timeoutS: hour });
process.stdout.write(
  `${JSON.stringify({ port: Number(new URL(sim.imageioUrl).port), caFile: sim.caFile })}\n`,
);
process.on("SIGTERM", () => {
  void sim.stop().then(() => process.exit(0));
});
