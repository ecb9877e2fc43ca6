/**
 * What the benches scale and fit: the walker's retry schedule at a latency scale, the replay
 * cost's line.
 */
import { describe, expect, it } from "vitest";
import { scaledOperationPollMs, scaledRetry } from "../../bench/install";
import { linearFit } from "../../bench/overhead";
import { DEFAULT_RETRY } from "../../orchestrations/step-events";

describe("scaledRetry", () => {
  it("scales the intervals and keeps the attempt budgets", () => {
    expect(scaledRetry(0.02)).toEqual({
      ...DEFAULT_RETRY,
      firstRetryIntervalMs: 40,
      maxRetryIntervalMs: 1_200,
      maxPropagationIntervalMs: 300,
    });
    expect(scaledRetry(1)).toEqual(DEFAULT_RETRY);
  });

  it("polls operations at the sandbox's one-second Retry-After times the scale", () => {
    expect(scaledOperationPollMs(0.02)).toBe(20);
    expect(scaledOperationPollMs(1)).toBe(1_000);
    expect(scaledOperationPollMs(0.0001)).toBe(1);
  });
});

describe("linearFit", () => {
  it("finds the fixed part and the slope", () => {
    const fit = linearFit([
      [10, 120],
      [100, 300],
      [1_000, 2_100],
    ]);
    expect(fit.slope).toBeCloseTo(2, 6);
    expect(fit.intercept).toBeCloseTo(100, 6);
  });
});
