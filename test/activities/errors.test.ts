import { describe, expect, it } from "vitest";
import { RestError } from "@azure/core-rest-pipeline";
import { classifyError, redact } from "../../activities/errors";
import { runActivity } from "../../activities/define";
import { BrokerError } from "../../src/errors";

describe("classifyError", () => {
  it("retries throttling, server errors and replication delays", () => {
    expect(classifyError(new RestError("slow down", { statusCode: 429 })).retryable).toBe(true);
    expect(classifyError(new RestError("oops", { statusCode: 503 })).retryable).toBe(true);
    const principalNotFound = Object.assign(new RestError("Principal x does not exist", { statusCode: 400, code: "PrincipalNotFound" }));
    expect(classifyError(principalNotFound)).toMatchObject({ code: "PrincipalNotFound", retryable: true });
    expect(classifyError(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })).retryable).toBe(true);
  });

  it("does not retry bad requests or authorization failures", () => {
    expect(classifyError(new RestError("bad", { statusCode: 400, code: "InvalidRequestContent" }))).toMatchObject({ retryable: false, code: "InvalidRequestContent" });
    expect(classifyError(new RestError("no", { statusCode: 403, code: "AuthorizationFailed" })).retryable).toBe(false);
    expect(classifyError(new BrokerError("LocationMismatch", "cannot move")).retryable).toBe(false);
  });
});

describe("runActivity", () => {
  const input = { operationId: "op", slug: "demo", nodeId: "secret:gateway", desired: {} };

  it("returns a failure value for permanent errors and scrubs secrets from its message", async () => {
    const outcome = await runActivity(async (_input, secrets) => {
      const value = secrets.add("s3cr3t-value-123");
      throw new RestError(`vault refused ${value}`, { statusCode: 400, code: "BadParameter" });
    }, input);
    expect(outcome).toMatchObject({ failed: true, code: "BadParameter", nodeId: "secret:gateway" });
    expect(JSON.stringify(outcome)).not.toContain("s3cr3t-value-123");
  });

  it("rethrows transient errors (so the orchestration retries) with scrubbed messages", async () => {
    const attempt = runActivity(async (_input, secrets) => {
      throw new RestError(`throttled while writing ${secrets.add("another-secret-456")}`, { statusCode: 429 });
    }, input);
    await expect(attempt).rejects.toThrow(/throttled/);
    await expect(attempt).rejects.not.toThrow(/another-secret-456/);
  });

  it("redact ignores very short values that would mangle messages", () => {
    expect(redact("a b c", ["b"])).toBe("a b c");
    expect(redact("token=abcdef", ["abcdef"])).toBe("token=[redacted]");
  });
});

describe("network failures from fetch", () => {
  it("treats a dropped connection under fetch as transient", () => {
    const dropped = Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) });
    expect(classifyError(dropped).retryable).toBe(true);
    expect(classifyError(new TypeError("x is not a function")).retryable).toBe(false);
  });
});

describe("Graph transport failures", () => {
  it("treats a GraphError with statusCode -1 from a failed fetch as transient", () => {
    const graphError = Object.assign(new Error("fetch failed"), { name: "GraphError", statusCode: -1, code: "TypeError" });
    expect(classifyError(graphError).retryable).toBe(true);
  });
});
