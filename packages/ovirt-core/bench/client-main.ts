/**
 * One client run in its own process, so its peak RSS is its own. Args:
 *   download <url> <out> <ca file> <workers>   |   upload <file> <url> <ca file> <workers>
 * Prints `{"seconds": s, "maxRssBytes": n, "dataBytes": n}`.
 */
import { readFileSync } from "node:fs";
import { ImageioTicket } from "../src/imageio";

const [mode, a, b, caFile, workersArg] = process.argv.slice(2);
if (!mode || !a || !b || !caFile) throw new Error("usage: client-main download|upload ...");
const caPem = readFileSync(caFile, "utf8");
const workers = Number(workersArg ?? 4);
const started = performance.now();
const cpu0 = process.cpuUsage();
let dataBytes = 0;
if (mode === "download") {
  const ticket = await ImageioTicket.open(a, {
    caPem,
    workers,
    bufferSize: Number(process.env.BENCH_BUFFER_MIB ?? 4) * 1024 * 1024,
  });
  const res = await ticket.downloadToFile(b);
  dataBytes = res.written;
  await ticket.close();
} else {
  const ticket = await ImageioTicket.open(b, { caPem, workers });
  const res = await ticket.upload(a);
  dataBytes = res.dataBytes;
  await ticket.close();
}
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(
  `${JSON.stringify({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, maxRssBytes: process.resourceUsage().maxRSS * 1024, dataBytes })}\n`,
);
