import { describe, expect, it } from "vitest";
import { RestError, createHttpHeaders, createPipelineRequest } from "@azure/core-rest-pipeline";
import { classifyError, redact } from "../../activities/errors";
import { runActivity } from "../../activities/define";
import { BrokerError } from "../../src/errors";

describe("classifyError", () => {
  it("retries throttling, server errors and replication delays", () => {
    expect(classifyError(new RestError("slow down", { statusCode: 429 })).retryable).toBe(true);
    expect(classifyError(new RestError("oops", { statusCode: 503 })).retryable).toBe(true);
    const principalNotFound = Object.assign(
      new RestError("Principal x does not exist", { statusCode: 400, code: "PrincipalNotFound" }),
    );
    expect(classifyError(principalNotFound)).toMatchObject({ code: "PrincipalNotFound", retryable: true });
    expect(classifyError(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })).retryable).toBe(true);
  });

  it("reads Storage's code from x-ms-error-code when a HEAD's 403 has no body (RBAC not propagated yet)", () => {
    // What @azure/storage-blob throws for blob.getProperties() before a data role has propagated.
    const head = Object.assign(new RestError("", { statusCode: 403 }), {
      details: { errorCode: "AuthorizationPermissionMismatch" },
    });
    expect(classifyError(head)).toMatchObject({
      code: "AuthorizationPermissionMismatch",
      retryable: true,
      retryClass: "propagation",
    });
  });

  it("does not retry bad requests or authorization failures", () => {
    expect(classifyError(new RestError("bad", { statusCode: 400, code: "InvalidRequestContent" }))).toMatchObject({
      retryable: false,
      code: "InvalidRequestContent",
    });
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

  it("returns transient errors as retryable failures (the walker retries them), with scrubbed messages", async () => {
    const outcome = await runActivity(async (_input, secrets) => {
      throw new RestError(`throttled while writing ${secrets.add("another-secret-456")}`, { statusCode: 429 });
    }, input);
    expect(outcome).toMatchObject({
      failed: true,
      retryable: true,
      retryClass: "transient",
      message: expect.stringContaining("throttled"),
    });
    expect(JSON.stringify(outcome)).not.toContain("another-secret-456");
  });

  it("redact ignores very short values that would mangle messages", () => {
    expect(redact("a b c", ["b"])).toBe("a b c");
    expect(redact("token=abcdef", ["abcdef"])).toBe("token=[redacted]");
  });
});

describe("what a failure says about retrying", () => {
  const headers = (values: Record<string, string>) => createHttpHeaders(values);
  const response = (status: number, values: Record<string, string>, body?: unknown) =>
    ({
      status,
      headers: headers(values),
      request: createPipelineRequest({ url: "https://x" }),
      bodyAsText: body === undefined ? undefined : JSON.stringify(body),
    }) as never;

  it("honours Retry-After in seconds, as a date, and the millisecond variants", () => {
    expect(
      classifyError(new RestError("slow", { statusCode: 429, response: response(429, { "retry-after": "17" }) }))
        .retryAfterMs,
    ).toBe(17_000);
    expect(
      classifyError(new RestError("slow", { statusCode: 429, response: response(429, { "retry-after-ms": "250" }) }))
        .retryAfterMs,
    ).toBe(250);
    const inAMinute = new Date(Date.now() + 60_000).toUTCString();
    const fromDate = classifyError(
      new RestError("slow", { statusCode: 503, response: response(503, { "retry-after": inAMinute }) }),
    ).retryAfterMs!;
    expect(fromDate).toBeGreaterThan(55_000);
    expect(fromDate).toBeLessThanOrEqual(60_000);
    // A permanent failure carries no wait, whatever the headers say.
    expect(
      classifyError(
        new RestError("bad", { statusCode: 400, code: "BadRequest", response: response(400, { "retry-after": "5" }) }),
      ).retryAfterMs,
    ).toBeUndefined();
  });

  it("gives RBAC and replication delays the propagation class, from Key Vault's inner error code too", () => {
    const forbidden = new RestError("Caller is not authorized", {
      statusCode: 403,
      code: "Forbidden",
      response: response(
        403,
        {},
        { error: { code: "Forbidden", message: "Caller is not authorized", innererror: { code: "ForbiddenByRbac" } } },
      ),
    });
    expect(classifyError(forbidden)).toMatchObject({
      code: "ForbiddenByRbac",
      retryable: true,
      retryClass: "propagation",
    });
    expect(
      classifyError(new RestError("x", { statusCode: 403, code: "AuthorizationPermissionMismatch" })),
    ).toMatchObject({ retryable: true, retryClass: "propagation" });
    expect(classifyError(new RestError("x", { statusCode: 400, code: "PrincipalNotFound" }))).toMatchObject({
      retryClass: "propagation",
    });
  });

  it("does not wait out a deleted secret's conflict (recovering it is the way out)", () => {
    const deleted = new RestError("Secret x is currently in a deleted but recoverable state", {
      statusCode: 409,
      code: "Conflict",
      response: response(
        409,
        {},
        {
          error: {
            code: "Conflict",
            message: "deleted but recoverable",
            innererror: { code: "ObjectIsDeletedButRecoverable" },
          },
        },
      ),
    });
    expect(classifyError(deleted)).toMatchObject({ code: "ObjectIsDeletedButRecoverable", retryable: false });
    expect(classifyError(new RestError("busy", { statusCode: 409, code: "Conflict" })).retryable).toBe(true);
  });

  it("reads the service's code out of a failed long-running operation", () => {
    const internal = new Error("The long-running operation has failed. InternalServerError. Something broke inside.");
    expect(classifyError(internal)).toMatchObject({
      code: "InternalServerError",
      message: "Something broke inside.",
      retryable: true,
    });
    const quota = new Error(
      "The long-running operation has failed. MaxNumberOfRegionalEnvironmentsInSubExceeded. The subscription has reached its limit.",
    );
    expect(classifyError(quota)).toMatchObject({
      code: "MaxNumberOfRegionalEnvironmentsInSubExceeded",
      retryable: false,
    });
  });
});

describe("network failures from fetch", () => {
  it("treats a dropped connection under fetch as transient", () => {
    const dropped = Object.assign(new TypeError("fetch failed"), {
      cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }),
    });
    expect(classifyError(dropped).retryable).toBe(true);
    expect(classifyError(new TypeError("x is not a function")).retryable).toBe(false);
  });
});

describe("Graph transport failures", () => {
  it("treats a GraphError with statusCode -1 from a failed fetch as transient", () => {
    const graphError = Object.assign(new Error("fetch failed"), {
      name: "GraphError",
      statusCode: -1,
      code: "TypeError",
    });
    expect(classifyError(graphError).retryable).toBe(true);
  });
});
