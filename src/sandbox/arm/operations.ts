/**
 * ARM's long-running operations as clients poll them (azure-resource-manager/management/async-operations):
 * an `Azure-AsyncOperation` URL answers 200 with `{status: InProgress|Succeeded|Failed}`; a `Location`
 * URL answers 202 while the operation runs, then the final answer (200 with the resource, 200 or 204
 * for a delete) or the error. The two are different URLs, as in Azure, because a poller that follows
 * `Location` reads the status code and body as the result. Failures injected by `lroFailure` come
 * from the seeded PRNG, so a seed reproduces a run.
 */
import { randomUUID } from "node:crypto";
import { subscriptionOf, type SandboxEnvironment } from "../service";
import { SeededRandom } from "../faults";
import { noteGate } from "../timings";
import { SandboxHttpError, type SandboxResponse } from "../types";

/** How a type's PUT/PATCH answers when it starts an LRO (per its REST spec and examples). */
export interface LroStyle {
  /** First answer's status for a create and for an update. */
  created: 200 | 201 | 202;
  updated: 200 | 201 | 202;
  /** Which polling URLs the first answer carries. */
  headers: "async" | "location" | "both";
  /** The first answer has no body (storage accounts: 202 with `Location` only). */
  emptyBody?: boolean;
  /** A PUT that changes nothing answers 200 at once (Container Apps: "200: No change performed"). */
  noChangeIsSync?: boolean;
  /** Only a create is long-running; a PUT on an existing resource answers 200 at once (storage accounts). */
  createOnly?: boolean;
}

/** How a type's DELETE answers (202, then the `Location` URL's final status). */
export interface LroDeleteStyle {
  headers: "async" | "location" | "both";
  /** What `Location` answers when the delete is done: resource groups 200 (the SDK accepts only 200/202), others 204. */
  doneStatus: 200 | 204;
}

export interface Operation {
  id: string;
  resourceId: string;
  kind: "put" | "delete" | "action";
  type: string;
  namespace: string;
  location: string;
  apiVersion: string;
  startedAt: number;
  durationMs: number;
  failed: boolean;
  done: boolean;
  error?: { code: string; message: string };
  /** Final status of the Location URL after success. */
  doneStatus: 200 | 204;
  /** A POST action's name (`stop`, `start`): its type's `onActionDone` runs when the operation ends. */
  action?: string;
  /** The Location URL answers the resource when done (actions whose final state is the resource). */
  returnsResource?: boolean;
}

/** Operation id -> resource type, for per-type latency on status polls (`resourceTypeOf`). */
const OPERATION_TYPES = new Map<string, string>();

export function operationTypeOf(operationId: string): string | undefined {
  return OPERATION_TYPES.get(operationId.toLowerCase());
}

/** `.../providers/{ns}/locations/{loc}/operationStatuses/{id}`, `.../operationResults/{id}`, or ARM's own `/subscriptions/{s}/operationresults/{id}`. */
export function matchOperationPath(path: string): { id: string; kind: "status" | "result" } | undefined {
  const status = /\/providers\/[^/]+\/locations\/[^/]+\/operationStatuses\/([^/]+)$/i.exec(path);
  if (status) return { id: status[1], kind: "status" };
  const result =
    /\/providers\/[^/]+\/locations\/[^/]+\/operationResults\/([^/]+)$/i.exec(path) ??
    /^\/subscriptions\/[^/]+\/operationresults\/([^/]+)$/i.exec(path);
  if (result) return { id: result[1], kind: "result" };
  return undefined;
}

export class OperationTracker {
  private readonly operations = new Map<string, Operation>();
  /** Unfinished operations by resource id (lowercased): what every request's settle walks. */
  private readonly active = new Map<string, Operation>();
  /** The last operation started on each resource id (lowercased), finished or not: what a read of the resource waited on. */
  private readonly latest = new Map<string, Operation>();
  /** Ids of operations started, finished or handed out since the last `takeTouched()` (for persistence). */
  private touched = new Set<string>();
  private random: SeededRandom;
  private seed: number;

  constructor(private readonly env: SandboxEnvironment) {
    this.seed = env.faults.seed;
    this.random = new SeededRandom(this.seed);
  }

  /** Whether an LRO of this type fails, drawn from the PRNG seeded by `faults.seed`. */
  private draw(rate: number): boolean {
    if (this.env.faults.seed !== this.seed) {
      this.seed = this.env.faults.seed;
      this.random = new SeededRandom(this.seed);
    }
    return rate > 0 && this.random.next() < rate;
  }

  start(input: {
    resourceId: string;
    type: string;
    kind: Operation["kind"];
    location?: string;
    apiVersion: string;
    doneStatus?: 200 | 204;
    action?: string;
    returnsResource?: boolean;
  }): Operation {
    const faults = this.env.faults;
    const durationMs = (faults.lroDurationMs[input.type] ?? faults.defaultLroDurationMs) * faults.latencyScale;
    const operation: Operation = {
      id: randomUUID(),
      resourceId: input.resourceId,
      kind: input.kind,
      type: input.type,
      namespace: input.type.split("/")[0],
      location: input.location ?? "westeurope",
      apiVersion: input.apiVersion,
      startedAt: this.env.clock.now(),
      durationMs,
      failed: input.kind === "put" && this.draw(faults.lroFailure[input.type] ?? 0),
      done: false,
      doneStatus: input.doneStatus ?? (input.kind === "delete" ? 204 : 200),
      ...(input.action ? { action: input.action } : {}),
      ...(input.returnsResource ? { returnsResource: true } : {}),
    };
    if (operation.failed)
      operation.error = {
        code: "ProvisioningFailed",
        message: `The provisioning of ${input.type} '${input.resourceId.split("/").at(-1)}' failed (sandbox fault injection).`,
      };
    this.operations.set(operation.id, operation);
    this.active.set(operation.resourceId.toLowerCase(), operation);
    this.latest.set(operation.resourceId.toLowerCase(), operation);
    this.touched.add(operation.id);
    OPERATION_TYPES.set(operation.id, input.type);
    return operation;
  }

  /** Mark an operation over; it stays pollable. */
  finish(operation: Operation): void {
    operation.done = true;
    this.touched.add(operation.id);
    if (this.active.get(operation.resourceId.toLowerCase()) === operation)
      this.active.delete(operation.resourceId.toLowerCase());
  }

  get(id: string): Operation | undefined {
    const operation = this.operations.get(id.toLowerCase());
    if (operation) this.touched.add(operation.id);
    return operation;
  }

  /** Operations whose time is up and that have not been resolved yet. */
  due(now: number): Operation[] {
    const due = [...this.active.values()].filter((operation) => now >= operation.startedAt + operation.durationMs);
    for (const operation of due) this.touched.add(operation.id);
    return due;
  }

  /** The ids touched since the last call (see `touched`). */
  takeTouched(): Set<string> {
    const touched = this.touched;
    this.touched = new Set();
    return touched;
  }

  /** An operation by id, without marking it touched (persistence reads through this). */
  peek(id: string): Operation | undefined {
    return this.operations.get(id);
  }

  /** Every operation by id (snapshots). */
  entries(): IterableIterator<[string, Operation]> {
    return this.operations.entries();
  }

  /**
   * Replace every operation (at start, from the state directory). Unfinished ones are running
   * again at once: their progress is on the sandbox clock, so they end when their time is up.
   */
  load(operations: Map<string, Operation>): void {
    this.operations.clear();
    this.active.clear();
    const oldestFirst = [...operations.values()].sort((a, b) => a.startedAt - b.startedAt);
    for (const operation of oldestFirst) {
      this.operations.set(operation.id, operation);
      OPERATION_TYPES.set(operation.id, operation.type);
      if (!operation.done) this.active.set(operation.resourceId.toLowerCase(), operation);
    }
    this.touched.clear();
  }

  /** The last operation started on the resource in this process (none after a restart). */
  latestOn(resourceId: string): Operation | undefined {
    return this.latest.get(resourceId.toLowerCase());
  }

  /** Unfinished operations. */
  unfinished(): Operation[] {
    return [...this.active.values()];
  }

  /** The unfinished operation on a resource, if any (a second write must wait for it). */
  running(resourceId: string): Operation | undefined {
    return this.active.get(resourceId.toLowerCase());
  }

  /** How far (0..1) a running operation is, for types that report several provisioning states. */
  progress(operation: Operation, now: number): number {
    return operation.durationMs <= 0 ? 1 : Math.min(1, (now - operation.startedAt) / operation.durationMs);
  }

  /** The operation's URLs are under the subscription of the resource it works on. */
  private subscription(operation: Operation): string {
    return subscriptionOf(operation.resourceId) ?? this.env.subscriptionId;
  }

  private base(baseUrl: string, operation: Operation): string {
    return `${baseUrl}/subscriptions/${this.subscription(operation)}`;
  }

  statusUrl(operation: Operation, baseUrl: string): string {
    return `${this.base(baseUrl, operation)}/providers/${operation.namespace}/locations/${operation.location}/operationStatuses/${operation.id}?api-version=${operation.apiVersion}`;
  }

  resultUrl(operation: Operation, baseUrl: string): string {
    // Resource groups are ARM's own: their Location is /subscriptions/{s}/operationresults/{token}.
    if (operation.namespace.toLowerCase() === "microsoft.resources")
      return `${this.base(baseUrl, operation)}/operationresults/${operation.id}?api-version=${operation.apiVersion}`;
    return `${this.base(baseUrl, operation)}/providers/${operation.namespace}/locations/${operation.location}/operationResults/${operation.id}?api-version=${operation.apiVersion}`;
  }

  /** Polling headers for the first answer, per the operation's style. */
  headers(operation: Operation, baseUrl: string, style: "async" | "location" | "both"): Record<string, string> {
    const headers: Record<string, string> = { "retry-after": this.retryAfter(operation) };
    if (style !== "location") headers["azure-asyncoperation"] = this.statusUrl(operation, baseUrl);
    if (style !== "async") headers.location = this.resultUrl(operation, baseUrl);
    return headers;
  }

  /**
   * Seconds a client should wait: 0 once the operation is over (instant LROs cost no wall time),
   * else 1, so clients on a manual clock poll again soon after a test moves it.
   */
  private retryAfter(operation: Operation): string {
    return operation.done ? "0" : "1";
  }

  /** GET on the Azure-AsyncOperation URL: always 200, the status in the body. */
  statusResponse(operation: Operation): SandboxResponse {
    noteGate({ kind: "lro", originAt: operation.startedAt, delayMs: operation.durationMs, open: operation.done });
    const status = !operation.done ? "InProgress" : operation.failed ? "Failed" : "Succeeded";
    const body: Record<string, unknown> = {
      id: `/subscriptions/${this.subscription(operation)}/providers/${operation.namespace}/locations/${operation.location}/operationStatuses/${operation.id}`,
      name: operation.id,
      status,
      startTime: new Date(operation.startedAt).toISOString(),
    };
    if (operation.done) body.endTime = new Date(operation.startedAt + operation.durationMs).toISOString();
    if (operation.done && operation.failed) body.error = operation.error;
    return { status: 200, headers: operation.done ? {} : { "retry-after": this.retryAfter(operation) }, body };
  }

  /** GET on the Location URL: 202 while running, then the result (`resource` for PUTs), or the failure. */
  resultResponse(operation: Operation, baseUrl: string, resource: unknown): SandboxResponse {
    noteGate({ kind: "lro", originAt: operation.startedAt, delayMs: operation.durationMs, open: operation.done });
    if (!operation.done)
      return {
        status: 202,
        headers: { location: this.resultUrl(operation, baseUrl), "retry-after": this.retryAfter(operation) },
      };
    if (operation.failed)
      throw new SandboxHttpError(
        400,
        operation.error?.code ?? "ProvisioningFailed",
        operation.error?.message ?? "The operation failed.",
      );
    if ((operation.kind !== "put" && !operation.returnsResource) || resource === undefined)
      return { status: operation.doneStatus };
    return { status: 200, body: resource };
  }
}
