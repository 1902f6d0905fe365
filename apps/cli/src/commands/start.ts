import type { Command } from "commander";
import { action } from "../cli-kit";

export function register(program: Command) {
  program
    .command("start")
    .description(
      "run Lifeboat on this machine: database, simulated engine if none is configured, worker, web",
    )
    .action(
      action(async () => {
        const started = Date.now();
        // Loaded on use: the launcher pulls in the database and web stack, which other commands do not need.
        const { startLifeboat } = await import("../launcher/start");
        const lifeboat = await startLifeboat();
        const secs = ((Date.now() - started) / 1000).toFixed(1);
        const login = lifeboat.admin.generatedPassword
          ? `  Sign in as ${lifeboat.admin.email} with password ${lifeboat.admin.generatedPassword}\n  (shown only this once; change it after signing in)`
          : `  Sign in as ${lifeboat.admin.email} (its password was printed on the first start; reset it with\n  \`pnpm lifeboat admin reset-password --email ${lifeboat.admin.email}\`)`;
        process.stdout.write(
          `\nLifeboat is ready at ${lifeboat.url} (started in ${secs} s)\n${login}\n\nPress Ctrl+C to stop.\n`,
        );
        await new Promise<void>((resolve) => {
          const onSignal = (sig: NodeJS.Signals) => {
            process.stderr.write(`\n[lifeboat] ${sig}: stopping…\n`);
            resolve();
          };
          process.once("SIGINT", onSignal);
          process.once("SIGTERM", onSignal);
        });
        await lifeboat.stop();
      }),
    );
}
