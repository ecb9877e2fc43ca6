/**
 * The walker's retry schedule: a throttled or failing step backs off to a minute, a step waiting
 * on propagation looks again at most every 15 s, and the test/demo settings keep that shape.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_RETRY, retryDelayMs } from "../../orchestrations/step-events";
import { retryFromEnv } from "../../src/api/pipeline";

const delays = (retryClass: "transient" | "propagation", attempts: number) =>
  Array.from({ length: attempts }, (_, index) => retryDelayMs(DEFAULT_RETRY, index + 1, undefined, retryClass));

describe("the retry schedule", () => {
  it("doubles from 2 s, to 60 s for a failing step and to 15 s for a propagation wait", () => {
    expect(delays("transient", 7)).toEqual([2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    expect(delays("propagation", 7)).toEqual([2_000, 4_000, 8_000, 15_000, 15_000, 15_000, 15_000]);
  });

  it("gives propagation about ten and a half minutes, more than the ten Azure documents for RBAC", () => {
    const total = delays("propagation", DEFAULT_RETRY.maxPropagationAttempts! - 1).reduce((sum, ms) => sum + ms, 0);
    expect(total).toBeGreaterThan(10 * 60_000);
    expect(total).toBeLessThan(11 * 60_000);
  });

  it("never looks sooner than the service's Retry-After, whatever the class", () => {
    expect(retryDelayMs(DEFAULT_RETRY, 5, 45_000, "propagation")).toBe(45_000);
    expect(retryDelayMs(DEFAULT_RETRY, 1, 30_000, "transient")).toBe(30_000);
  });

  it("keeps the default's proportion when tests and demos shorten it", () => {
    const fast = retryFromEnv({ SHIRE_RETRY_FIRST_INTERVAL_MS: "40", SHIRE_RETRY_MAX_INTERVAL_MS: "1200" })!;
    expect(fast.maxPropagationIntervalMs).toBe(300);
    expect(fast.maxPropagationAttempts).toBe(DEFAULT_RETRY.maxPropagationAttempts);
    expect(retryDelayMs(fast, 10, undefined, "propagation")).toBe(300);
    expect(retryDelayMs(fast, 10, undefined, "transient")).toBe(1_200);
    const named = retryFromEnv({
      SHIRE_RETRY_FIRST_INTERVAL_MS: "40",
      SHIRE_RETRY_MAX_INTERVAL_MS: "1200",
      SHIRE_RETRY_MAX_PROPAGATION_INTERVAL_MS: "100",
    })!;
    expect(named.maxPropagationIntervalMs).toBe(100);
    expect(retryFromEnv({})).toBeUndefined();
  });
});
