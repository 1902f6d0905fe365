import type { Loose, VmStatus } from "@lifeboat/ovirt-protocol";
import { z } from "zod";
import { poll, type WaitOptions } from "../wait";
import { type EngineClient, seg } from "./client";
import { EngineError, EngineStateError, OvfNotAvailableError } from "./errors";
import { type Ref, zBigInt, zBool, zCollection, zDate, zEnum, zRef } from "./json";

export interface Vm {
  id: string;
  name: string;
  description?: string;
  /** Typed loosely because engines add values. */
  status: Loose<VmStatus>;
  /** Memory in bytes. */
  memory?: bigint;
  cluster?: Ref;
  template?: Ref;
  /** The host running the VM. */
  host?: Ref;
  creationTime?: Date;
  stateless?: boolean;
  deleteProtected?: boolean;
  hasIllegalImages?: boolean;
  type?: string;
  osType?: string;
  /** The OVF (`initialization.configuration.data`), only with `allContent` and when the engine included it. */
  ovf?: string;
}

const zVm = z
  .object({
    id: z.string().min(1),
    name: z.string(),
    description: z.string().optional(),
    status: zEnum.optional(),
    memory: zBigInt.optional(),
    cluster: zRef.optional(),
    template: zRef.optional(),
    host: zRef.optional(),
    creation_time: zDate.optional(),
    stateless: zBool.optional(),
    delete_protected: zBool.optional(),
    has_illegal_images: zBool.optional(),
    type: zEnum.optional(),
    os: z.object({ type: z.string().optional() }).optional(),
    initialization: z
      .object({
        configuration: z.object({ type: z.string().optional(), data: z.string().optional() }).optional(),
      })
      .optional(),
  })
  .transform(
    (v): Vm => ({
      id: v.id,
      name: v.name,
      description: v.description,
      status: v.status ?? "unknown",
      memory: v.memory,
      cluster: v.cluster,
      template: v.template,
      host: v.host,
      creationTime: v.creation_time,
      stateless: v.stateless,
      deleteProtected: v.delete_protected,
      hasIllegalImages: v.has_illegal_images,
      type: v.type,
      osType: v.os?.type,
      ovf:
        v.initialization?.configuration?.data &&
        (v.initialization.configuration.type ?? "ovf").toLowerCase() === "ovf"
          ? v.initialization.configuration.data
          : undefined,
    }),
  );
const zVms = zCollection("vm", zVm);

export interface VmListOptions {
  /** Raw engine search expression (`name=web* and status=up`). */
  search?: string;
  /** Shorthand for `search=name=<name>`; wildcards (`*`) allowed. Combined with `search` by `and`. */
  name?: string;
  max?: number;
  /** Sent explicitly because engines disagree on the default (ref §1.3). Default false. */
  caseSensitive?: boolean;
  allContent?: boolean;
  signal?: AbortSignal;
}

export interface AddVmFromOvfSpec {
  /** The OVF text, as `initialization.configuration.data`. */
  ovf: string;
  /** Overrides the OVF's name. */
  name?: string;
  cluster: { id: string } | { name: string };
  /** Import as a new entity (new VM id, new MACs); needed when the original still exists. */
  regenerateIds?: boolean;
  correlationId?: string;
}

/** VMs: `/vms`. */
export class Vms {
  constructor(private readonly engine: EngineClient) {}

  async list(opts: VmListOptions = {}): Promise<Vm[]> {
    const terms = [
      opts.name !== undefined ? `name=${searchValue(opts.name)}` : undefined,
      opts.search,
    ].filter((t): t is string => !!t);
    return this.engine.get("/vms", zVms, {
      query: {
        search: terms.length ? terms.join(" and ") : undefined,
        max: opts.max,
        case_sensitive: terms.length ? (opts.caseSensitive ?? false) : undefined,
        all_content: opts.allContent ? "true" : undefined,
      },
      headers: opts.allContent ? { "all-content": "true" } : undefined,
      signal: opts.signal,
    });
  }

  /** The VM with exactly this name (the search is a pattern match, so the result is filtered), or undefined. */
  async findByName(name: string, opts: { allContent?: boolean; signal?: AbortSignal } = {}) {
    const vms = await this.list({ ...opts, name, caseSensitive: true });
    return vms.find((v) => v.name === name);
  }

  async get(id: string, opts: { allContent?: boolean; signal?: AbortSignal } = {}): Promise<Vm> {
    return this.engine.get(`/vms/${seg(id)}`, zVm, {
      query: { all_content: opts.allContent ? "true" : undefined },
      headers: opts.allContent ? { "all-content": "true" } : undefined,
      signal: opts.signal,
    });
  }

  async status(id: string, opts: { signal?: AbortSignal } = {}): Promise<Loose<VmStatus>> {
    return (await this.get(id, opts)).status;
  }

  /** The VM's OVF; throws OvfNotAvailableError while the engine leaves it out (a disk is locked). */
  async ovf(id: string, opts: { signal?: AbortSignal } = {}): Promise<string> {
    const vm = await this.get(id, { ...opts, allContent: true });
    if (!vm.ovf) throw new OvfNotAvailableError(id);
    return vm.ovf;
  }

  /** Polls until the OVF is present. */
  async waitForOvf(id: string, wait: WaitOptions = {}): Promise<string> {
    return poll(
      `the OVF of VM ${id}`,
      async () => {
        try {
          return { done: true, value: await this.ovf(id, { signal: wait.signal }) };
        } catch (e) {
          if (e instanceof OvfNotAvailableError) return { done: false, state: "OVF not available" };
          throw e;
        }
      },
      { ...wait, defaultTimeoutMs: 10 * 60_000, defaultIntervalMs: this.engine.pollIntervalMs },
    );
  }

  /**
   * Adds a VM from an OVF (ref §4.4) and waits for the import: engines before 4.5.1 answer 202 with the VM
   * `image_locked`, newer ones block and answer 201. Returns the VM once it left `image_locked`.
   */
  async addFromOvf(spec: AddVmFromOvfSpec, wait: WaitOptions = {}): Promise<Vm> {
    const body: Record<string, unknown> = {
      cluster: spec.cluster,
      initialization: {
        regenerate_ids: String(spec.regenerateIds ?? false),
        configuration: { type: "ovf", data: spec.ovf },
      },
    };
    if (spec.name !== undefined) body.name = spec.name;
    const res = await this.engine.request("POST", "/vms", {
      body,
      query: { correlation_id: spec.correlationId },
      signal: wait.signal,
    });
    const vm = this.engine.parse(zVm, res.json, "POST", "/vms");
    if (res.status !== 202 && vm.status !== "image_locked") return vm;
    return this.waitUnlocked(vm.id, wait);
  }

  /** Polls until the VM leaves `image_locked`; a 404 means the engine rolled the import back. */
  async waitUnlocked(id: string, wait: WaitOptions = {}): Promise<Vm> {
    return poll(
      `VM ${id} to be unlocked`,
      async () => {
        let vm: Vm;
        try {
          vm = await this.get(id, { signal: wait.signal });
        } catch (e) {
          if (e instanceof EngineError && e.isNotFound)
            throw new EngineStateError(
              "VM",
              id,
              "removed",
              `VM ${id} disappeared while locked (operation failed)`,
            );
          throw e;
        }
        if (vm.status === "image_locked") return { done: false, state: vm.status };
        return { done: true, value: vm };
      },
      { ...wait, defaultTimeoutMs: 30 * 60_000, defaultIntervalMs: this.engine.pollIntervalMs },
    );
  }

  /** Removes a VM; with `detachOnly` its disks are kept. */
  async remove(id: string, opts: { detachOnly?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    await this.engine.remove(`/vms/${seg(id)}`, {
      query: { detach_only: opts.detachOnly === undefined ? undefined : String(opts.detachOnly) },
      signal: opts.signal,
    });
  }
}

/** Quotes a search value containing spaces or quotes; wildcards stay usable. */
export function searchValue(v: string): string {
  return /[\s"()]/.test(v) ? `"${v.replace(/(["\\])/g, "\\$1")}"` : v;
}
