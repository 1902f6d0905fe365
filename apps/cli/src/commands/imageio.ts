import { statSync } from "node:fs";
import type { ImageioExtent as Extent, ImageioTicket, TransferProgress } from "@lifeboat/ovirt-core";
import type { Command } from "commander";
import { type CliKit, caFileOption, intOption, oneOf, UsageError } from "../cli-kit";

interface TlsFlags {
  cafile?: string;
  insecure?: boolean;
}

interface TransferFlags extends TlsFlags {
  workers?: number;
}

interface UploadFlags extends TransferFlags {
  format?: "raw" | "qcow2";
  transferFormat?: "raw" | "cow";
}

/** `lifeboat imageio info|download|upload`: talk to an ovirt-imageio ticket URL directly. */
export function register(program: Command, kit: CliKit): void {
  const imageio = program
    .command("imageio")
    .description(
      "read or write an ovirt-imageio ticket URL (transfer_url or proxy_url of an image transfer)",
    );

  withTls(imageio.command("info <url>"))
    .description("OPTIONS of the ticket and a summary of its extents")
    .option("--json", "print JSON")
    .action(
      kit.action(async (url: string, flags: TlsFlags & { json?: boolean }) => {
        await withTicket(kit, url, flags, {}, async (ticket) => {
          const extents = await ticket.extents();
          const summary = summarize(extents);
          const o = ticket.options;
          if (flags.json) {
            const json = {
              features: o.features,
              allow: o.allow,
              maxReaders: o.maxReaders,
              maxWriters: o.maxWriters,
              legacy: o.legacy,
              size: await ticket.size(),
              extents: summary,
            };
            process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
            return;
          }
          const lines = [
            ["features", o.legacy ? "(none: legacy server)" : o.features.join(", ") || "(none)"],
            ["allow", o.allow.join(", ") || "-"],
            ["max readers", String(o.maxReaders)],
            ["max writers", String(o.maxWriters)],
            ["size", `${await ticket.size()} bytes (${mib(await ticket.size())})`],
            ["extents", String(summary.count)],
            ["data", `${summary.dataBytes} bytes (${mib(summary.dataBytes)})`],
            [
              "zero",
              `${summary.zeroBytes} bytes (${mib(summary.zeroBytes)}), holes ${summary.holeBytes} bytes`,
            ],
          ];
          for (const [k, v] of lines) process.stdout.write(`${`${k}:`.padEnd(13)}${v}\n`);
        });
      }),
    );

  withTls(imageio.command("download <url> <out>"))
    .description("download the ticket's bytes into OUT (zero ranges left sparse)")
    .option(
      "--workers <n>",
      "data connections (capped by the server's max_readers)",
      intOption("--workers", 1, 16),
    )
    .action(
      kit.action(async (url: string, out: string, flags: TransferFlags) => {
        const target = kit.path(out);
        const progress = progressPrinter("download");
        await withTicket(
          kit,
          url,
          flags,
          { workers: flags.workers, onProgress: progress.update },
          async (ticket, signal) => {
            const started = performance.now();
            const res = await ticket.downloadToFile(target, { sparse: true, signal });
            progress.done();
            const seconds = (performance.now() - started) / 1000;
            const size = res.written + res.skipped;
            process.stdout.write(
              `${out}: ${size} bytes, ${mib(res.written)} written, ${mib(res.skipped)} left sparse, ${seconds.toFixed(1)} s (${mib(size / Math.max(seconds, 1e-3))}/s)\n`,
            );
          },
        );
      }),
    );

  withTls(imageio.command("upload <file> <url>"))
    .description(
      "upload FILE to the ticket: a qcow2 file (its backing chain included) as guest data, a raw file as it is " +
        "(zero runs sent as PATCH zero); refused before any write when the ticket cannot take it whole",
    )
    .option(
      "--workers <n>",
      "data connections (capped by the server's max_writers)",
      intOption("--workers", 1, 16),
    )
    .option(
      "--format <format>",
      "FILE's format, raw or qcow2 (default: read from its first bytes; say raw for a raw disk that may begin with the qcow2 magic)",
      oneOf("--format", ["raw", "qcow2"] as const),
    )
    .option(
      "--transfer-format <format>",
      "what the ticket takes: raw, guest data (a transfer with format=raw, the NBD backend; default), or cow, a qcow2 volume's file bytes as they are",
      oneOf("--transfer-format", ["raw", "cow"] as const),
    )
    .action(
      kit.action(async (file: string, url: string, flags: UploadFlags) => {
        const source = kit.path(file);
        let isFile = false;
        try {
          isFile = statSync(source).isFile();
        } catch {
          throw new Error(`${file}: no such file`);
        }
        if (!isFile) throw new Error(`${file}: not a regular file`);
        const progress = progressPrinter("upload");
        await withTicket(
          kit,
          url,
          flags,
          { workers: flags.workers, onProgress: progress.update },
          async (ticket, signal) => {
            const res = await ticket.uploadImageFile(source, {
              signal,
              format: flags.format,
              transferFormat: flags.transferFormat,
            });
            progress.done();
            const as = res.format === "qcow2" && flags.transferFormat !== "cow" ? " of guest data" : "";
            process.stdout.write(
              `${file}: ${res.bytes} bytes${as}, ${mib(res.dataBytes)} data, ${mib(res.zeroBytes)} zeroed, ${res.seconds.toFixed(1)} s over ${res.connections} connection(s)\n`,
            );
          },
        );
      }),
    );
}

function withTls(cmd: Command): Command {
  return cmd
    .option("--cafile <file>", "CA certificate (PEM) to verify the server with (default: system store)")
    .option("--insecure", "do not verify the server's certificate");
}

/** Opens the ticket (usage errors for bad flags), runs `fn`, closes it; Ctrl-C aborts and closes connections. */
async function withTicket(
  kit: CliKit,
  url: string,
  flags: TransferFlags,
  extra: { workers?: number; onProgress?: (p: TransferProgress) => void },
  fn: (ticket: ImageioTicket, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  if (!/^https?:\/\/[^/]+\/.+/i.test(url)) throw new UsageError(`not a ticket URL: ${url}`);
  const caPem = caFileOption(kit, flags);
  const ac = new AbortController();
  const onSignal = () => ac.abort(new Error("interrupted"));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let ticket: ImageioTicket | undefined;
  try {
    // Loaded on use: `lifeboat --help` and other commands start without the imageio client.
    const { ImageioTicket } = await import("@lifeboat/ovirt-core");
    ticket = await ImageioTicket.open(url, {
      caPem,
      insecure: flags.insecure,
      signal: ac.signal,
      workers: extra.workers,
      onProgress: extra.onProgress,
    });
    await fn(ticket, ac.signal);
  } finally {
    await ticket?.close();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function summarize(extents: Extent[]) {
  let dataBytes = 0;
  let zeroBytes = 0;
  let holeBytes = 0;
  for (const e of extents) {
    if (!e.zero) dataBytes += e.length;
    else {
      zeroBytes += e.length;
      if (e.hole) holeBytes += e.length;
    }
  }
  return { count: extents.length, dataBytes, zeroBytes, holeBytes };
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** Progress on stderr: a rewritten line on a terminal, a line every few seconds otherwise. */
function progressPrinter(what: string) {
  const tty = process.stderr.isTTY === true;
  const every = tty ? 200 : 5000;
  let last = 0;
  let printed = false;
  const line = (p: TransferProgress) => {
    const pct = p.total ? ` ${((100 * p.done) / p.total).toFixed(1)}%` : "";
    return `${what}:${pct} ${mib(p.done)}${p.total ? ` of ${mib(p.total)}` : ""}, ${mib(p.rate)}/s`;
  };
  let latest: TransferProgress | undefined;
  return {
    update: (p: TransferProgress) => {
      latest = p;
      const now = performance.now();
      if (now - last < every) return;
      last = now;
      printed = true;
      process.stderr.write(tty ? `\r${line(p)}\u001b[K` : `${line(p)}\n`);
    },
    done: () => {
      if (latest) process.stderr.write(tty ? `\r${line(latest)}\u001b[K\n` : `${line(latest)}\n`);
      else if (printed && tty) process.stderr.write("\n");
    },
  };
}
