/**
 * The install's bound from the sandbox's timings (bench/bound.ts): latencies along the plan's
 * chains, gates opening after the request that started them, waits on closed gates left out.
 */
import { describe, expect, it } from "vitest";
import { sandboxBound, tracesFromWindows, type TimedRequest } from "../../bench/bound";
import type { TimeGate } from "../../src/sandbox/timings";

let seq = 0;
/** A request sent at `at` (wall ms) that the sandbox held `latencyMs`, with its gates. */
function request(at: number, latencyMs: number, gates: TimeGate[] = []): TimedRequest {
  return { seq: seq++, startedAt: at, endedAt: at + latencyMs, latencyMs, gates };
}

describe("sandboxBound", () => {
  it("is the longest chain of latencies, not the sum", () => {
    const bound = sandboxBound([
      { id: "a", dependsOn: [], requests: [request(0, 10), request(10, 5)] },
      { id: "b", dependsOn: ["a"], requests: [request(20, 100)] },
      { id: "c", dependsOn: ["a"], requests: [request(200, 30)] },
      { id: "d", dependsOn: ["b", "c"], requests: [request(300, 1)] },
    ]);
    expect(bound.boundMs).toBe(116);
    expect(bound.chain).toEqual(["a", "b", "d"]);
    expect(bound.sequentialMs).toBe(146);
  });

  it("waits for an operation from the request that started it, leaving out polls that found it running", () => {
    const put = request(1_000, 10);
    const bound = sandboxBound([
      {
        id: "env",
        dependsOn: [],
        requests: [
          put,
          // Polled too early, then again after the operation's 500 ms: only the last poll counts.
          request(1_100, 2, [{ kind: "lro", originAt: 1_005, delayMs: 500, open: false }]),
          request(2_100, 2, [{ kind: "lro", originAt: 1_005, delayMs: 500, open: true }]),
        ],
      },
    ]);
    expect(bound.boundMs).toBe(10 + 500 + 2);
    expect(bound.waits).toBe(1);
    expect(bound.gatesApplied).toBe(1);
  });

  it("starts a propagation delay where the grant's step ended on the ideal timeline, not in the traced run", () => {
    const grant = request(5_000, 20); // the role assignment, created at 5_010 in the traced run
    const bound = sandboxBound([
      { id: "vault", dependsOn: [], requests: [request(0, 40)] },
      { id: "grant", dependsOn: ["vault"], requests: [grant] },
      {
        id: "secret",
        dependsOn: ["grant"],
        requests: [
          request(6_000, 3, [{ kind: "rbac", originAt: 5_010, delayMs: 2_400, open: false }]),
          request(9_000, 3, [{ kind: "rbac", originAt: 5_010, delayMs: 2_400, open: true }]),
          request(9_003, 4),
        ],
      },
    ]);
    // vault 40, grant ends at 60, propagation until 2_460, then the two requests that counted.
    expect(bound.finishMs).toEqual({ vault: 40, grant: 60, secret: 2_467 });
    expect(bound.boundMs).toBe(2_467);
  });

  it("ignores a gate started before the traced run", () => {
    const bound = sandboxBound([
      {
        id: "a",
        dependsOn: [],
        requests: [request(100, 5, [{ kind: "rbac", originAt: 1, delayMs: 9_999, open: true }])],
      },
    ]);
    expect(bound.boundMs).toBe(5);
    expect(bound.gatesApplied).toBe(0);
  });
});

describe("tracesFromWindows", () => {
  it("gives each step the requests that started inside its attempts", () => {
    const timings = [request(0, 5), request(10, 5), request(50, 5), request(70, 5)];
    const traces = tracesFromWindows(
      [
        { id: "a", dependsOn: [], windows: [{ startedAt: 0, endedAt: 20 }] },
        {
          id: "b",
          dependsOn: ["a"],
          windows: [
            { startedAt: 45, endedAt: 55 },
            { startedAt: 65, endedAt: 80 },
          ],
        },
      ],
      timings,
    );
    expect(traces.map((trace) => trace.requests.map((r) => r.startedAt))).toEqual([
      [0, 10],
      [50, 70],
    ]);
  });
});
