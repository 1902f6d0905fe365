import type { EngineClient } from "../engine";
import { engineWords, errorText, isNotFound } from "./context";
import type { FlowEvent } from "./types";

export interface PruneCheckpointsOptions {
  engine: EngineClient;
  vmId: string;
  /** At most this many of the VM's checkpoints stay on the engine (at least 1). */
  keep: number;
  /**
   * The checkpoint the VM's newest restore point names (the next incremental's start): never removed, nor any
   * checkpoint newer than it.
   */
  protect: string;
  onEvent?(e: FlowEvent): void;
  signal?: AbortSignal;
}

export interface PruneCheckpointsResult {
  /** Removed, oldest first. */
  removed: string[];
  /** How many checkpoints the VM has on the engine now, as far as this call knows. */
  remaining: number;
  /** The removal that failed (pruning stops there: only the root can be removed), in the engine's words. */
  failed?: { checkpointId: string; error: string };
}

/**
 * Removes the checkpoints of a VM that Lifeboat no longer needs (issue 12: a bounded chain): oldest first, as
 * the engine removes only the root (ref §3.9), until at most `keep` remain, and every checkpoint the engine
 * reports `invalid` older than `protect` (with the valid ones older still, which must go first). `protect` and
 * anything newer stay, whatever `keep` says. Never throws: a failed removal ends pruning with a `warn` event
 * and comes back in `failed` — the backup it follows stands.
 */
export async function pruneCheckpoints(opts: PruneCheckpointsOptions): Promise<PruneCheckpointsResult> {
  const { engine, vmId, protect } = opts;
  const keep = Math.max(1, Math.floor(opts.keep));
  const event = (level: FlowEvent["level"], message: string, details?: Record<string, unknown>) =>
    opts.onEvent?.({ level, step: "checkpoints", message, ...(details ? { details } : {}) });
  const removed: string[] = [];
  let chain: Awaited<ReturnType<EngineClient["checkpoints"]["list"]>>;
  try {
    chain = await engine.checkpoints.list(vmId, { signal: opts.signal });
  } catch (e) {
    const error = engineWords(e) ?? errorText(e);
    event("warn", `checkpoints of the VM not pruned: listing them failed (${error})`);
    return { removed, remaining: 0, failed: { checkpointId: "", error } };
  }
  const at = chain.findIndex((c) => c.id === protect);
  if (at < 0) {
    event("warn", `checkpoints of the VM not pruned: the engine does not list checkpoint ${protect}`, {
      checkpointId: protect,
    });
    return { removed, remaining: chain.length };
  }
  let lastInvalid = -1;
  for (let i = 0; i < at; i++) if (chain[i]?.state === "invalid") lastInvalid = i;
  const count = Math.min(at, Math.max(chain.length - keep, lastInvalid + 1));
  for (let i = 0; i < count; i++) {
    const c = chain[i];
    if (!c) break;
    try {
      await engine.checkpoints.remove(vmId, c.id, { signal: opts.signal });
    } catch (e) {
      if (!isNotFound(e)) {
        const error = engineWords(e) ?? errorText(e);
        event(
          "warn",
          `checkpoint ${c.id} could not be removed from the engine (${error}): ${chain.length - removed.length} checkpoints stay`,
          { checkpointId: c.id },
        );
        return { removed, remaining: chain.length - removed.length, failed: { checkpointId: c.id, error } };
      }
    }
    removed.push(c.id);
    const why =
      c.state === "invalid"
        ? "invalid"
        : i < chain.length - keep
          ? `no longer needed (keeping ${keep})`
          : `older than invalid checkpoint ${chain[lastInvalid]?.id}`;
    event("info", `removed checkpoint ${c.id} from the engine: ${why}`, {
      checkpointId: c.id,
      state: c.state,
    });
  }
  return { removed, remaining: chain.length - removed.length };
}
