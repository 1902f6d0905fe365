import type { Command } from "commander";
import { type CliKit, intOption, UsageError } from "../cli-kit";

interface SimOpts {
  data?: string;
  port: number;
  imageioPort: number;
  proxyPort: number;
  host: string;
  http?: boolean;
  seedScale: string;
}

function dataDir(kit: CliKit, opts: { data?: string }): string {
  if (!opts.data) throw new UsageError("--data <dir> is required");
  return kit.path(opts.data);
}

export function register(program: Command, kit: CliKit) {
  const sim = program
    .command("sim")
    .description("run the simulated oVirt engine and imageio daemon (demo VMs) until interrupted")
    .option("--data <dir>", "data dir of the simulator (state, volumes, CA)")
    .option("--port <port>", "engine HTTPS port (0 = any free port)", intOption("--port", 0, 65535), 8443)
    .option(
      "--imageio-port <port>",
      "imageio daemon port (transfer_url)",
      intOption("--imageio-port", 0, 65535),
      54322,
    )
    .option(
      "--proxy-port <port>",
      "imageio proxy port (proxy_url)",
      intOption("--proxy-port", 0, 65535),
      54323,
    )
    .option("--host <address>", "address to listen on and to put in URLs", "127.0.0.1")
    .option("--http", "plain HTTP instead of HTTPS")
    .option("--seed-scale <scale>", "size of the demo VMs seeded on first start: demo or small", "demo")
    .action(
      kit.action(async (opts: SimOpts) => {
        const dir = dataDir(kit, opts);
        if (opts.seedScale !== "demo" && opts.seedScale !== "small")
          throw new UsageError("--seed-scale must be demo or small");
        const { startSimulator } = await import("@lifeboat/ovirt-sim");
        process.stderr.write(`[sim] starting on ${dir}…\n`);
        const s = await startSimulator({
          dataDir: dir,
          host: opts.host,
          enginePort: opts.port,
          imageioPort: opts.imageioPort,
          proxyPort: opts.proxyPort,
          http: opts.http ?? false,
          seedScale: opts.seedScale,
        });
        process.stdout.write(
          [
            `Engine URL:   ${s.engineUrl}`,
            `User:         ${s.adminUser}`,
            `Password:     ${s.adminPassword}`,
            `CA file:      ${s.caFile}`,
            `imageio:      ${s.imageioUrl} (proxy ${s.proxyUrl})`,
            "",
          ].join("\n"),
        );
        process.stderr.write("[sim] ready; press Ctrl+C to stop\n");
        await new Promise<void>((resolve) => {
          const onSignal = (sig: NodeJS.Signals) => {
            process.stderr.write(`[sim] ${sig}: stopping…\n`);
            resolve();
          };
          process.once("SIGINT", onSignal);
          process.once("SIGTERM", onSignal);
        });
        await s.stop();
        process.stderr.write("[sim] stopped\n");
      }),
    );
  sim
    .command("write")
    .description("write N MiB of new data at random places into a VM's active layer (through a running sim)")
    .argument("<vm>", "VM name")
    .requiredOption("--mib <n>", "MiB to write", intOption("--mib", 1, 1024 * 1024))
    .option("--seed <n>", "seed of the placement (for repeatable runs)", intOption("--seed", 0))
    .action(
      kit.action(async (vm: string, opts: { mib: number; seed?: number }, cmd: Command) => {
        const dir = dataDir(kit, cmd.optsWithGlobals<{ data?: string }>());
        const { writeGuestData } = await import("@lifeboat/ovirt-sim");
        const r = await writeGuestData({ dataDir: dir, vmName: vm, mib: opts.mib, seed: opts.seed });
        for (const d of r.disks)
          process.stdout.write(
            `${d.diskId} ${d.volumeId} ${d.ranges.map((x) => `${x.offset}+${x.length}`).join(" ")}\n`,
          );
        process.stderr.write(
          `[sim] wrote ${r.bytes / 2 ** 20} MiB into ${r.vm} (${r.via === "sim" ? "through the running simulator" : "directly"})\n`,
        );
      }),
    );
}
