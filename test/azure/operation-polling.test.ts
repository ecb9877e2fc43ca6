/**
 * The broker's own poll interval for long-running operations (AzureContext.operationPollIntervalMs,
 * SHIRE_OPERATION_POLL_INTERVAL_MS): what the install bench uses on the sandbox's compressed clock,
 * where the service's whole-second Retry-After stands for most of a minute of Azure's time.
 */
import { describe, expect, it } from "vitest";
import { createHttpHeaders, createPipelineRequest, type PipelineResponse } from "@azure/core-rest-pipeline";
import { AzureClients, operationPollIntervalPolicy } from "../../src/azure/clients";
import { azureContextFromEnv } from "../../src/azure/credential";
import { useSandbox } from "../fixtures/sandbox";

const WORKSPACES = "Microsoft.OperationalInsights/workspaces";
const env = useSandbox({ faults: { lroDurationMs: { [WORKSPACES]: 400 } } });

/** Polls of one workspace's create: GETs of its operation's status or result. */
function pollsOf(operationsBefore: number): number {
  return env.sandbox
    .requests()
    .slice(operationsBefore)
    .filter((request) => request.method === "GET" && /\/operation(Statuse|Result)s\//i.test(request.url)).length;
}

describe("polling long-running operations", () => {
  it("follows the service's Retry-After (1 s) by default, and the broker's interval when it has one", async () => {
    const plain = new AzureClients(env.sandbox.context());
    await plain.resources.resourceGroups.createOrUpdate("rg-poll", { location: "westeurope" });

    let mark = env.sandbox.requests().length;
    expect(plain.operationPolling).toEqual({});
    await plain.operationalInsights.workspaces.createOrUpdate(
      "rg-poll",
      "log-default",
      { location: "westeurope" },
      plain.operationPolling,
    );
    // One look at once (running), the next after the 1 s Retry-After (done).
    expect(pollsOf(mark)).toBeLessThanOrEqual(2);

    const fast = new AzureClients({ ...env.sandbox.context(), operationPollIntervalMs: 20 });
    mark = env.sandbox.requests().length;
    expect(fast.operationPolling).toEqual({ updateIntervalInMs: 20 });
    const created = await fast.operationalInsights.workspaces.createOrUpdate(
      "rg-poll",
      "log-fast",
      { location: "westeurope" },
      fast.operationPolling,
    );
    expect(created.provisioningState).toBe("Succeeded");
    // 400 ms of operation looked at every 20 ms: many more looks than the whole second allows.
    expect(pollsOf(mark)).toBeGreaterThanOrEqual(4);
  });

  it("drops Retry-After only from successful answers: a 429's or 503's wait stays the retry policy's", async () => {
    const policy = operationPollIntervalPolicy();
    const answer = (status: number) => async (): Promise<PipelineResponse> => ({
      request: createPipelineRequest({ url: "https://management.azure.com/x" }),
      status,
      headers: createHttpHeaders({ "retry-after": "1" }),
    });
    const request = createPipelineRequest({ url: "https://management.azure.com/x" });
    expect((await policy.sendRequest(request, answer(202))).headers.get("retry-after")).toBeUndefined();
    expect((await policy.sendRequest(request, answer(200))).headers.get("retry-after")).toBeUndefined();
    expect((await policy.sendRequest(request, answer(429))).headers.get("retry-after")).toBe("1");
    expect((await policy.sendRequest(request, answer(503))).headers.get("retry-after")).toBe("1");
  });

  it("is a sandbox setting: refused against Azure, and a bad value is refused", () => {
    expect(() =>
      azureContextFromEnv({
        SHIRE_CLOUD: "AzureCloud",
        AZURE_SUBSCRIPTION_ID: "00000000-0000-4000-8000-000000000001",
        AZURE_TENANT_ID: "00000000-0000-4000-8000-0000000000aa",
        SHIRE_OPERATION_POLL_INTERVAL_MS: "20",
      }),
    ).toThrow(/compressed clock.*Retry-After/);
    const sandbox = {
      SHIRE_CLOUD: "Sandbox",
      SHIRE_SANDBOX_PORT: String(env.sandbox.port),
      SHIRE_SANDBOX_CA_FILE: env.sandbox.caFile,
    };
    expect(() => azureContextFromEnv({ ...sandbox, SHIRE_OPERATION_POLL_INTERVAL_MS: "0.5" })).toThrow(
      /positive whole number/,
    );
    expect(azureContextFromEnv({ ...sandbox, SHIRE_OPERATION_POLL_INTERVAL_MS: "20" }).operationPollIntervalMs).toBe(
      20,
    );
    expect(azureContextFromEnv(sandbox).operationPollIntervalMs).toBeUndefined();
  });
});
