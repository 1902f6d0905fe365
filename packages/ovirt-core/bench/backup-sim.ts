/** The backup benchmark's simulator process (see runBenchSim): `backup-sim.ts <data dir>`. */
import { runBenchSim } from "./support/bench-sim";

await runBenchSim(process.argv[2]);
