/**
 * What the sandbox itself made each request wait (the bench's bound, bench/bound.ts): the latency
 * it slept before answering, and every time gate the answer depended on, open or still closed: a
 * long-running operation's duration, RBAC propagation, a revision's start-up, Entra replication.
 * A gate is `{originAt, delayMs}`: it opens `delayMs` after the moment (sandbox clock) something
 * started it (the PUT that began the operation, the role assignment's creation, ...), so a reader
 * can tell which earlier request started each wait. Off unless the sandbox is started with
 * `timings: true` (a bench); requests are tracked through AsyncLocalStorage, so the services
 * record without passing anything around.
 */
import { AsyncLocalStorage } from "node:async_hooks";

export type GateKind = "lro" | "rbac" | "revision" | "replication";

export interface TimeGate {
  kind: GateKind;
  /** Sandbox clock ms when the wait began. */
  originAt: number;
  delayMs: number;
  /** Whether the answer found the gate open (a closed one: the client must ask again later). */
  open: boolean;
}

export interface RequestTiming {
  /** Sequence number, in arrival order. */
  seq: number;
  service: string;
  method: string;
  url: string;
  /** Status answered; 0 when the connection was cut without an answer. */
  status: number;
  /** Wall clock (Date.now) when the request arrived and when it was answered. */
  startedAt: number;
  endedAt: number;
  /** What the sandbox slept before answering (latency faults, scaled). */
  latencyMs: number;
  gates: TimeGate[];
}

const current = new AsyncLocalStorage<RequestTiming>();

export class RequestTimings {
  readonly records: RequestTiming[] = [];
  constructor(public enabled = false) {}

  /** Run `handle` as one request's handling, recording it when enabled. */
  async track(service: string, method: string, url: string, handle: () => Promise<number>): Promise<void> {
    if (!this.enabled) {
      await handle();
      return;
    }
    const record: RequestTiming = {
      seq: this.records.length,
      service,
      method,
      url,
      status: 0,
      startedAt: Date.now(),
      endedAt: 0,
      latencyMs: 0,
      gates: [],
    };
    this.records.push(record);
    try {
      record.status = await current.run(record, handle);
    } finally {
      record.endedAt = Date.now();
    }
  }
}

/** Whether the request being handled is recorded (work done only for the record can be skipped). */
export function recording(): boolean {
  return current.getStore() !== undefined;
}

/** The latency the sandbox is about to sleep for the request being handled. */
export function noteLatency(ms: number): void {
  const record = current.getStore();
  if (record && ms > 0) record.latencyMs += ms;
}

/** A time gate the answer to the request being handled depends on. */
export function noteGate(gate: TimeGate): void {
  const record = current.getStore();
  if (record && gate.delayMs > 0) record.gates.push(gate);
}
