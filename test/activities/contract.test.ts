import { describe, expect, it } from "vitest";
import { isActivityFailure, type ActivityResult } from "../../src/contract/activity";
import { resolveReferences } from "../../src/contract/reference";

const result = (nodeId: string, outputs: ActivityResult["outputs"]): ActivityResult => ({
  nodeId,
  action: "created",
  changed: [],
  outputs,
});
/** The outputs a finished step hands its dependents (what the walker resolves references from). */
const outputsOf = (nodeId: string, outputs: ActivityResult["outputs"]) => result(nodeId, outputs).outputs;

describe("resolveReferences", () => {
  it("replaces references anywhere in the desired state with the dependency's output", () => {
    const desired = {
      name: "openclaw",
      environmentId: { fromNode: "managedEnvironment", output: "resourceId" },
      env: [
        {
          name: "APPLICATIONINSIGHTS_CONNECTION_STRING",
          value: { fromNode: "appInsights", output: "connectionString" },
        },
      ],
    };
    const resolved = resolveReferences(desired, {
      managedEnvironment: outputsOf("managedEnvironment", { resourceId: "/subscriptions/s/env" }),
      appInsights: outputsOf("appInsights", { connectionString: "InstrumentationKey=abc" }),
    });
    expect(resolved).toEqual({
      name: "openclaw",
      environmentId: "/subscriptions/s/env",
      env: [{ name: "APPLICATIONINSIGHTS_CONNECTION_STRING", value: "InstrumentationKey=abc" }],
    });
    // The input is not mutated: the orchestration replays it.
    expect(desired.environmentId).toEqual({ fromNode: "managedEnvironment", output: "resourceId" });
  });

  it("fails loudly on a reference to a node without a result or an unknown output", () => {
    expect(() => resolveReferences({ a: { fromNode: "missing", output: "x" } }, {})).toThrow(/missing/);
    expect(() =>
      resolveReferences({ a: { fromNode: "n", output: "nope" } }, { n: outputsOf("n", { other: 1 }) }),
    ).toThrow(/nope/);
  });

  it("resolves a missing reference to null when asked (removals need only the names they have)", () => {
    expect(resolveReferences({ a: { fromNode: "missing", output: "x" }, b: "kept" }, {}, { missing: "null" })).toEqual({
      a: null,
      b: "kept",
    });
    expect(() => resolveReferences({ a: { fromNode: "missing", output: "x" } }, {}, { missing: "throw" })).toThrow(
      /missing/,
    );
  });

  it("leaves objects that merely have fromNode plus other keys alone", () => {
    const value = { fromNode: "n", output: "x", extra: true };
    expect(resolveReferences(value as never, {})).toEqual(value);
  });
});

describe("isActivityFailure", () => {
  it("recognises only failure values", () => {
    expect(isActivityFailure({ nodeId: "a", failed: true, code: "X", message: "m" })).toBe(true);
    expect(isActivityFailure(result("a", {}))).toBe(false);
    expect(isActivityFailure(null)).toBe(false);
  });
});

describe("formatted references", () => {
  it("interpolate the output into a string template", () => {
    const resolved = resolveReferences(
      { origin: { fromNode: "env", output: "defaultDomain", format: "https://openclaw.${value}" } },
      { env: outputsOf("env", { defaultDomain: "abc.westeurope.azurecontainerapps.io" }) },
    );
    expect(resolved).toEqual({ origin: "https://openclaw.abc.westeurope.azurecontainerapps.io" });
  });
});
