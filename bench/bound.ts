/**
 * The install's bound from the sandbox's own timings: how long the plan would take if the broker
 * cost nothing (no walker, no polling interval, no retry backoff) and every step started the
 * moment its dependencies were done. Pure: tested in test/bench/bound.test.ts.
 *
 * Input: each plan step's requests, in order (from a run where each request belongs to exactly one
 * step: the sequential baseline), each with the latency the sandbox slept before answering and
 * the time gates its answer depended on (src/sandbox/timings.ts). A request that found a gate
 * closed (a poll of an operation still running, a 403 before RBAC propagated, a revision still
 * starting) is a wait, not work: an ideal client would have sent it once, when the gate opened, so
 * it is left out. Every other request costs its latency, after any gate it passed has opened: a
 * gate opens `delayMs` after the request that started it (the PUT that began an operation, the
 * role assignment's creation) ended on this ideal timeline. A gate started before the traced run
 * (or by no traced request) constrains nothing.
 */
import { topologicalOrder } from "../src/model/plan";
import type { RequestTiming } from "../src/sandbox/timings";

export type TimedRequest = Pick<RequestTiming, "seq" | "startedAt" | "endedAt" | "latencyMs" | "gates">;

export interface StepTrace {
  id: string;
  dependsOn: string[];
  /** The step's requests (every attempt), in the order they were sent. */
  requests: TimedRequest[];
}

export interface SandboxBound {
  /** The longest dependency chain on the ideal timeline (ms). */
  boundMs: number;
  /** The chain that sets it, first step first. */
  chain: string[];
  /** Each step's ideal finish (ms from the start). */
  finishMs: Record<string, number>;
  /** The same steps one after another on the same ideal terms (no overlap at all). */
  sequentialMs: number;
  /** Requests left out as waits on a closed gate. */
  waits: number;
  /** Gates whose origin was found on the ideal timeline (the others constrain nothing). */
  gatesApplied: number;
}

/** The traced request a gate's origin falls in: the latest one that had started by then and was still open. */
function originOf(requests: TimedRequest[], originAt: number): TimedRequest | undefined {
  let found: TimedRequest | undefined;
  for (const request of requests)
    if (
      request.startedAt <= originAt &&
      originAt <= request.endedAt &&
      (!found || request.startedAt >= found.startedAt)
    )
      found = request;
  return found;
}

export function sandboxBound(steps: StepTrace[]): SandboxBound {
  const all = steps.flatMap((step) => step.requests);
  const idealEnd = new Map<number, number>();
  const finish = new Map<string, number>();
  const via = new Map<string, string | undefined>();
  let waits = 0;
  let gatesApplied = 0;

  const walk = (start: number, step: StepTrace): number => {
    let now = start;
    for (const request of step.requests) {
      if (request.gates.some((gate) => !gate.open)) {
        waits++;
        continue;
      }
      for (const gate of request.gates) {
        const origin = originOf(all, gate.originAt);
        const originEnd = origin === undefined ? undefined : idealEnd.get(origin.seq);
        if (originEnd === undefined) continue;
        gatesApplied++;
        now = Math.max(now, originEnd + gate.delayMs);
      }
      now += request.latencyMs;
      idealEnd.set(request.seq, now);
    }
    return now;
  };

  for (const step of topologicalOrder(steps)) {
    let start = 0;
    let after: string | undefined;
    for (const dependency of step.dependsOn) {
      const end = finish.get(dependency) ?? 0;
      if (end >= start) [start, after] = [end, dependency];
    }
    finish.set(step.id, walk(start, step));
    via.set(step.id, after);
  }

  let last: string | undefined;
  for (const [id, end] of finish) if (last === undefined || end > finish.get(last)!) last = id;
  const chain: string[] = [];
  for (let at = last; at !== undefined; at = via.get(at)) chain.unshift(at);

  // Sequential: each step alone, its gates measured from its own origins only when they lie in
  // the step itself or before it on the sequential line (which they always do, in topological order).
  const counted = { waits, gatesApplied };
  idealEnd.clear();
  let sequential = 0;
  for (const step of topologicalOrder(steps)) sequential = walk(sequential, step);

  return {
    boundMs: Math.round(last === undefined ? 0 : finish.get(last)!),
    chain,
    finishMs: Object.fromEntries([...finish].map(([id, end]) => [id, Math.round(end)])),
    sequentialMs: Math.round(sequential),
    ...counted,
  };
}

/** Each step's requests: those that started inside one of the step's attempt windows. */
export function tracesFromWindows(
  steps: { id: string; dependsOn: string[]; windows: { startedAt: number; endedAt: number }[] }[],
  timings: TimedRequest[],
): StepTrace[] {
  return steps.map((step) => ({
    id: step.id,
    dependsOn: step.dependsOn,
    requests: timings
      .filter((request) =>
        step.windows.some((window) => window.startedAt <= request.startedAt && request.startedAt <= window.endedAt),
      )
      .sort((a, b) => a.seq - b.seq),
  }));
}
