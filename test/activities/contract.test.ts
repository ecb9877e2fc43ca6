import { describe, expect, it } from "vitest";
import { isActivityFailure, resolveReferences, type ActivityResult } from "../../activities/contract";

const result = (nodeId: string, outputs: ActivityResult["outputs"]): ActivityResult => ({
  nodeId,
  action: "created",
  changed: [],
  outputs,
});

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
      managedEnvironment: result("managedEnvironment", { resourceId: "/subscriptions/s/env" }),
      appInsights: result("appInsights", { connectionString: "InstrumentationKey=abc" }),
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
    expect(() => resolveReferences({ a: { fromNode: "n", output: "nope" } }, { n: result("n", { other: 1 }) })).toThrow(
      /nope/,
    );
  });

  it("leaves objects that merely have fromNode plus other keys alone", () => {
    const value = { fromNode: "n", output: "x", extra: true };
    expect(resolveReferences(value, {})).toEqual(value);
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
      { env: result("env", { defaultDomain: "abc.westeurope.azurecontainerapps.io" }) },
    );
    expect(resolved).toEqual({ origin: "https://openclaw.abc.westeurope.azurecontainerapps.io" });
  });
});
