import type { Command } from "commander";
import type { CliKit } from "../cli-kit";
import * as admin from "./admin";
import * as backup from "./backup";
import * as chain from "./chain";
import * as gc from "./gc";
import * as imageio from "./imageio";
import * as ovf from "./ovf";
import * as qcow2 from "./qcow2";
import * as restore from "./restore";
import * as sim from "./sim";
import * as start from "./start";
import * as verify from "./verify";

/**
 * Every command of the CLI, in the order `lifeboat --help` lists them. Add a command by writing
 * commands/<name>.ts exporting `register(program, kit)` and listing it here.
 */
export const commands: Array<(program: Command, kit: CliKit) => void> = [
  start.register,
  admin.register,
  qcow2.register,
  chain.register,
  ovf.register,
  imageio.register,
  backup.register,
  restore.register,
  verify.register,
  gc.register,
  sim.register,
];
