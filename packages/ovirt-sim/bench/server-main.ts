/**
 * The simulator in its own process for the benchmark, so that the clients measured do not share its event
 * loop. Arg: data dir. Prints one JSON line with the URLs and credentials; stops on SIGTERM.
 */
import { startSimulator } from "../src/index";

const dataDir = process.argv[2];
if (!dataDir) throw new Error("usage: server-main <data dir>");
const sim = await startSimulator({ dataDir, seed: false, asyncDelayMs: 10, transferPollMs: 50 });
process.stdout.write(
  `${JSON.stringify({ engineUrl: sim.engineUrl, caPem: sim.caPem, caFile: sim.caFile, user: sim.adminUser, password: sim.adminPassword, dataDir })}\n`,
);
process.once("SIGTERM", () => {
  void sim.stop().then(() => process.exit(0));
});
