/**
 * The end-to-end benchmark's simulator process: the same VM as ovirt-core's backup benchmark, from its bench
 * support by package name (a bench never starts another package's files). `backup-sim.ts <data dir>`.
 */
import { runBenchSim } from "@lifeboat/ovirt-core/bench-support";

await runBenchSim(process.argv[2]);
