import type { Command } from "commander";
import type { CliKit } from "../cli-kit";

export function register(program: Command, kit: CliKit) {
  program
    .command("start")
    .description(
      "run Lifeboat on this machine: database, simulated engine if none is configured, worker, web",
    )
    .action(
      kit.action(async () => {
        // Listen from the very start: a signal during start-up waits for it to finish, then stops in order.
        // A second SIGINT/SIGTERM (e.g. sent to the whole process group) must not kill the launcher half-way.
        const stopRequested = new Promise<void>((resolve) => {
          let stopping = false;
          const onSignal = (sig: NodeJS.Signals) => {
            if (stopping) return;
            stopping = true;
            process.stderr.write(`\n[lifeboat] ${sig}: stopping…\n`);
            resolve();
          };
          process.on("SIGINT", onSignal);
          process.on("SIGTERM", onSignal);
        });
        const started = Date.now();
        // Loaded on use: the launcher pulls in the database and web stack, which other commands do not need.
        const { startLifeboat } = await import("../launcher/start");
        const lifeboat = await startLifeboat(kit.env.vars);
        const secs = ((Date.now() - started) / 1000).toFixed(1);
        const { admin } = lifeboat;
        const login = admin.generatedPassword
          ? `  Sign in as ${admin.email} with password ${admin.generatedPassword}\n  (shown only this once: the first sign-in asks you to choose your own)`
          : admin.created
            ? `  Sign in as ${admin.email} with the password from LIFEBOAT_ADMIN_PASSWORD`
            : `  Sign in as ${admin.email} (its password was printed on the first start; reset it with\n  \`pnpm lifeboat admin reset-password --email ${admin.email}\`)`;
        process.stdout.write(
          `\nLifeboat is ready at ${lifeboat.url} (started in ${secs} s)\n${login}\n\nPress Ctrl+C to stop.\n`,
        );
        const gaveUp = await Promise.race([stopRequested.then(() => undefined), lifeboat.failed]);
        await lifeboat.stop();
        if (gaveUp !== undefined) {
          process.stderr.write(`[lifeboat] stopped: ${gaveUp}\n`);
          process.exitCode = 1;
        }
      }),
    );
}
