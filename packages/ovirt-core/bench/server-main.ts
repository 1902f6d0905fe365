/**
 * The imageio test server as a separate process for the benchmark, so that the client's CPU and memory are
 * measured alone. Args: <pki dir> <read file> <write file> <write file for curl>. Prints `{"port": N}` once
 * listening.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { ImageioTestServer } from "../test/support/imageio-server";

const [pkiDir, readFile, writeFile, curlFile] = process.argv.slice(2);
if (!pkiDir || !readFile || !writeFile || !curlFile)
  throw new Error("usage: server-main <pki dir> <read file> <write file> <write file for curl>");
const server = await ImageioTestServer.start({
  certPem: readFileSync(path.join(pkiDir, "server.pem"), "utf8"),
  keyPem: readFileSync(path.join(pkiDir, "server.key"), "utf8"),
});
await server.addTicket({ id: "download", file: readFile, ops: ["read"], backend: "nbd" });
await server.addTicket({ id: "upload", file: writeFile, ops: ["write"], backend: "nbd", startsZero: true });
await server.addTicket({
  id: "upload-curl",
  file: curlFile,
  ops: ["write"],
  backend: "nbd",
  startsZero: true,
});
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
process.on("SIGTERM", () => {
  server.close().then(() => process.exit(0));
});
