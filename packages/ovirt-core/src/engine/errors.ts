/**
 * Every failure of an engine call: an HTTP fault (ref §1.4), a failed action, an SSO refusal, a network failure
 * or a response we could not understand. The message follows the Python SDK's wording so operators recognise it.
 */
export class EngineError extends Error {
  /** HTTP status; 0 when no response arrived (network) . */
  readonly status: number;
  /** The fault's `reason` (e.g. "Operation Failed"), or the SSO error code. */
  readonly reason?: string;
  /** The fault's `detail` (e.g. "[Cannot remove Snapshot. Disk vm1_Disk1 is being transferred.]"). */
  readonly detail?: string;
  readonly method: string;
  /** Request path below the API base, with its query string. */
  readonly path: string;

  constructor(init: {
    status: number;
    method: string;
    path: string;
    reason?: string;
    detail?: string;
    message?: string;
    cause?: unknown;
  }) {
    super(init.message ?? faultMessage(init), { cause: init.cause });
    this.name = "EngineError";
    this.status = init.status;
    this.reason = init.reason;
    this.detail = init.detail;
    this.method = init.method;
    this.path = init.path;
  }

  get isNotFound(): boolean {
    return this.status === 404;
  }

  get isAuth(): boolean {
    return this.status === 401 || this.status === 403;
  }

  get isConflict(): boolean {
    return this.status === 409;
  }
}

/** SSO refused the credentials (ref §2.1): carries the SSO error code as `reason`. */
export class EngineAuthError extends EngineError {
  constructor(init: ConstructorParameters<typeof EngineError>[0]) {
    super(init);
    this.name = "EngineAuthError";
  }
}

/** The VM came back without its OVF: the engine leaves it out while a disk is locked. Retry later. */
export class OvfNotAvailableError extends Error {
  readonly retryable = true;
  constructor(readonly vmId: string) {
    super(`OVF not available for VM ${vmId} (disk locked?); retry when the VM's disks are unlocked`);
    this.name = "OvfNotAvailableError";
  }
}

/** An entity reached a state that ends a wait unsuccessfully (snapshot rolled back, disk illegal, transfer failed). */
export class EngineStateError extends Error {
  constructor(
    readonly entity: string,
    readonly id: string,
    readonly state: string,
    message: string,
  ) {
    super(message);
    this.name = "EngineStateError";
  }
}

/** An image transfer failed; `state` is the phase it ended in (or "removed" / the disk status after a 404). */
export class ImageTransferFailedError extends EngineStateError {
  constructor(id: string, state: string, message: string) {
    super("image transfer", id, state, message);
    this.name = "ImageTransferFailedError";
  }
}

function faultMessage(init: {
  status: number;
  method: string;
  path: string;
  reason?: string;
  detail?: string;
}): string {
  const parts: string[] = [];
  if (init.reason) parts.push(`Fault reason is "${init.reason}".`);
  if (init.detail) parts.push(`Fault detail is "${init.detail}".`);
  parts.push(init.status ? `HTTP response code is ${init.status}.` : "No HTTP response.");
  parts.push(`(${init.method} ${init.path})`);
  return parts.join(" ");
}
