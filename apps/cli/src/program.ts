import { Command, CommanderError } from "commander";
import { type CliEnv, cliKit, UsageError } from "./cli-kit";
import { commands } from "./commands";

/** The `lifeboat` command tree. Each file in commands/ registers one command (or group). */
export function buildProgram(env: CliEnv): Command {
  const program = new Command("lifeboat")
    .description("Lifeboat: backup and restore of oVirt / RHV virtual machines")
    .showHelpAfterError()
    .exitOverride();
  const kit = cliKit(env);
  for (const register of commands) register(program, kit);
  return program;
}

/** Runs the CLI; resolves to the process exit code (0 ok, 1 operational failure, 2 usage error). */
export async function runCli(argv: string[], env: CliEnv): Promise<number> {
  const program = buildProgram(env);
  const applyExitOverride = (cmd: Command) => {
    cmd.exitOverride();
    cmd.commands.forEach(applyExitOverride);
  };
  applyExitOverride(program);
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === "commander.helpDisplayed" ||
        e.code === "commander.version" ||
        e.code === "commander.help"
      )
        return 0;
      return 2;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`lifeboat: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  return typeof process.exitCode === "number" ? process.exitCode : 0;
}
