import type { Command } from "commander";

/**
 * Every command of the CLI, in the order `lifeboat --help` lists them. Add a command by writing
 * commands/<name>.ts exporting `register(program)` and listing it here.
 */
export const commands: Array<(program: Command) => void> = [];
