import { realpath, stat } from "node:fs/promises";
import path from "node:path";
import type { QemuImgInfoJson } from "@lifeboat/disk-image";
import type { Command } from "commander";
import type { CliKit } from "../cli-kit";

function humanSize(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${bytes} bytes` : `${Number.isInteger(v) ? v : v.toFixed(2)} ${units[u]}`;
}

function infoLines(info: QemuImgInfoJson): string[] {
  const lines = [
    `image: ${info.filename}`,
    `file format: ${info.format}`,
    `virtual size: ${humanSize(info["virtual-size"])} (${info["virtual-size"]} bytes)`,
  ];
  if (info["actual-size"] !== undefined) lines.push(`disk size: ${humanSize(info["actual-size"])}`);
  if (info["cluster-size"] !== undefined) lines.push(`cluster_size: ${info["cluster-size"]}`);
  if (info["backing-filename"] !== undefined)
    lines.push(`backing file: ${info["backing-filename"]} (actual path: ${info["full-backing-filename"]})`);
  if (info["backing-filename-format"] !== undefined)
    lines.push(`backing file format: ${info["backing-filename-format"]}`);
  const fs = info["format-specific"]?.data;
  if (fs) {
    lines.push(`compat: ${fs.compat}`, `compression type: ${fs["compression-type"]}`);
    if (fs["lazy-refcounts"] !== undefined) lines.push(`lazy refcounts: ${fs["lazy-refcounts"]}`);
    lines.push(`refcount bits: ${fs["refcount-bits"]}`);
    if (fs.corrupt !== undefined) lines.push(`corrupt: ${fs.corrupt}`);
    if (fs["extended-l2"] !== undefined) lines.push(`extended l2: ${fs["extended-l2"]}`);
  }
  return lines;
}

export function register(program: Command, kit: CliKit): void {
  const qcow2 = program.command("qcow2").description("inspect and convert qcow2 / raw disk images");

  qcow2
    .command("info")
    .description("image format, sizes and backing file (--json: keys as `qemu-img info --output=json`)")
    .argument("<file>", "image file")
    .option("--json", "print JSON")
    .action(
      kit.action(async (file: string, opts: { json?: boolean }) => {
        // Loaded on use so that `lifeboat --help` and unrelated commands start fast.
        const { openFileSource, qemuInfo } = await import("@lifeboat/disk-image");
        const src = await openFileSource(kit.path(file));
        try {
          const st = await stat(kit.path(file));
          // Names are reported as typed, like qemu-img; full-backing-filename is relative to that.
          const info = await qemuInfo(src, { filename: file, actualSize: Number(st.blocks) * 512 });
          process.stdout.write(
            opts.json ? `${JSON.stringify(info, null, 4)}\n` : `${infoLines(info).join("\n")}\n`,
          );
        } finally {
          await src.close();
        }
      }),
    );

  qcow2
    .command("convert")
    .description("write the guest data of FILE's whole backing chain to OUT as a sparse raw image")
    .argument("<file>", "image file (qcow2 with backing files, or raw)")
    .argument("<out>", "raw image to write")
    .action(
      kit.action(async (file: string, out: string) => {
        const { convertChainToRaw, openImageChainFromFile, resolveBackingChain } = await import(
          "@lifeboat/disk-image"
        );
        const input = kit.path(file);
        const output = kit.path(out);
        const chainFiles = await resolveBackingChain(input);
        const outReal = await realpath(output).catch(() => path.resolve(output));
        for (const f of chainFiles)
          if ((await realpath(f)) === outReal)
            throw new Error(`${out} is part of the backing chain of ${file}; refusing to overwrite it`);
        const chain = await openImageChainFromFile(input);
        try {
          let lastReport = 0;
          const result = await convertChainToRaw(chain, output, (done, total) => {
            const now = Date.now();
            if (now - lastReport < 1000 && done < total) return;
            lastReport = now;
            process.stderr.write(`converting ${file}: ${total ? Math.floor((done * 100) / total) : 100}%\n`);
          });
          process.stdout.write(
            `${out}: ${result.virtualSize} bytes (${chain.layers.length} layer${chain.layers.length === 1 ? "" : "s"}), ${result.writtenBytes} bytes of data written\n`,
          );
        } finally {
          await chain.close();
        }
      }),
    );
}
