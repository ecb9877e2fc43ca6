/** The wave request's rules, its id, the canaries' order and the selector. */
import { describe, expect, it } from "vitest";
import { orderWave, selectSlugs, validateWaveRequest, waveIdFor } from "../../src/model/wave";

const valid = (body: Record<string, unknown>) => {
  const result = validateWaveRequest(body);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.request;
};

describe("a wave request", () => {
  it("fills defaults: one canary, batches of ten, as many in flight as a batch, no failure tolerated", () => {
    expect(valid({ image: "ghcr.io/openclaw/openclaw:2026.9.6", selector: {} })).toEqual({
      image: "ghcr.io/openclaw/openclaw:2026.9.6",
      allowMovingTag: false,
      selector: {},
      canary: 1,
      batchSize: 10,
      maxParallel: 10,
      maxFailures: 0,
      writesPerSecond: 9,
      writeBurst: 150,
      readsPerSecond: 23,
      readBurst: 200,
    });
  });

  it("lists every problem at once", () => {
    const result = validateWaveRequest({
      slugs: ["ok", "Not_A_Slug", "ok"],
      selector: { version: "x" },
      canary: ["elsewhere"],
      batchSize: 0,
      maxFailures: -1,
      color: "blue",
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((problem) => problem.path).sort()).toEqual(
      ["batchSize", "canary", "color", "image", "maxFailures", "slugs", "slugs", "slugs[Not_A_Slug]"].sort(),
    );
  });

  it("takes pace rates above 0 and at most 1000 a second", () => {
    const result = validateWaveRequest({
      image: "ghcr.io/openclaw/openclaw:2026.9.6",
      selector: {},
      writesPerSecond: 0,
      readsPerSecond: "5",
    });
    expect(!result.ok && result.problems.map((problem) => problem.path)).toEqual(["writesPerSecond", "readsPerSecond"]);
    expect(
      valid({ image: "ghcr.io/openclaw/openclaw:2026.9.6", selector: {}, readsPerSecond: 2.5 }).readsPerSecond,
    ).toBe(2.5);
  });

  it("refuses canary lists that name a slug twice or are not slug names", () => {
    for (const canary of [
      ["a1", "a1"],
      ["Not_A_Slug"],
      ["constructor!"],
      Array.from({ length: 1_001 }, (_, i) => `c${i}`),
    ]) {
      const result = validateWaveRequest({ image: "ghcr.io/openclaw/openclaw:2026.9.6", selector: {}, canary });
      expect(result.ok, JSON.stringify(canary)).toBe(false);
      if (!result.ok) expect(result.problems.map((problem) => problem.path)).toEqual(["canary"]);
    }
  });

  it("has the same id for the same request however its keys are ordered, another for another key", () => {
    const a = valid({ image: "ghcr.io/openclaw/openclaw:2026.9.6", slugs: ["a1", "b1"], batchSize: 5 });
    const b = valid({ batchSize: 5, slugs: ["a1", "b1"], image: "ghcr.io/openclaw/openclaw:2026.9.6" });
    expect(waveIdFor(a)).toBe(waveIdFor(b));
    expect(waveIdFor(a)).toMatch(/^wave-[0-9a-f]{20}$/);
    expect(waveIdFor({ ...a, idempotencyKey: "release-2026.9.6" })).not.toBe(waveIdFor(a));
    expect(waveIdFor({ ...a, batchSize: 6 })).not.toBe(waveIdFor(a));
  });

  it("puts the canaries first, and selects installed slugs by version, region and prefix", () => {
    expect(orderWave(["a", "b", "c", "d"], ["c"])).toEqual({
      order: ["c", "a", "b", "d"],
      canaries: 1,
      missingCanaries: [],
    });
    expect(orderWave(["a", "b", "c"], 2)).toEqual({ order: ["a", "b", "c"], canaries: 2, missingCanaries: [] });
    // A named canary the wave does not hold is said, not dropped: the wave must not go on without it.
    expect(orderWave(["a", "b"], ["a", "typo"])).toEqual({ order: ["a", "b"], canaries: 1, missingCanaries: ["typo"] });
    const records = [
      { slug: "eu-b", state: "installed", version: "img:1", region: "westeurope" },
      { slug: "eu-a", state: "installed", version: "img:1", region: "westeurope" },
      { slug: "eu-c", state: "failed", version: "img:1", region: "westeurope" },
      { slug: "us-a", state: "installed", version: "img:1", region: "eastus" },
      { slug: "eu-d", state: "installed", version: "img:2", region: "westeurope" },
    ];
    expect(selectSlugs(records, { version: "img:1", region: "westeurope" })).toEqual(["eu-a", "eu-b"]);
    expect(selectSlugs(records, { prefix: "eu-" })).toEqual(["eu-a", "eu-b", "eu-d"]);
  });
});
