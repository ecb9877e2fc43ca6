import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isNodeReference } from "../../src/contract/reference";
import { planSlug } from "../../src/model/plan";
import { validateInstallRequest } from "../../src/model/validate";
import { ensureSteps } from "../../src/operations/steps";
import { HistoryEventType } from "../../src/runtime/durable/types";
import {
  MAX_STATUS_BYTES,
  fitStatus,
  stepCounts,
  shortError,
  type RetrySettings,
  type WalkResult,
  type WalkStatus,
  type WalkStep,
} from "../../orchestrations/plan-walker";
import { outputsReferencedFrom, resetFakeControl, type FakeControl } from "../fixtures/fake-activities";
import { deferred, until } from "../fixtures/wait";
import { startWalkerHost, type WalkerHost } from "./walker-harness";

const node = (id: string, dependsOn: string[] = [], desired: Record<string, unknown> = {}): WalkStep => ({
  verb: "ensure",
  id,
  kind: "step",
  title: `Step ${id}`,
  dependsOn,
  desired,
});
const FAST_RETRY: RetrySettings = {
  firstRetryIntervalMs: 1_000,
  backoffCoefficient: 2,
  maxRetryIntervalMs: 4_000,
  maxAttempts: 3,
};

let walker: WalkerHost | undefined;
let control: FakeControl;
beforeEach(() => {
  control = resetFakeControl();
});
afterEach(async () => {
  // The walker never yields a task twice: the pattern the extension replays faithfully
  // (a re-yield inside a new Task.any is scheduled again on Azure, azure-functions-durable-js#574).
  const warnings = walker?.warnings ?? [];
  await walker?.close();
  walker = undefined;
  expect(warnings.filter((warning) => /already-scheduled|Task\.any|re-?yield/i.test(warning))).toEqual([]);
});

function start(instanceId: string, nodes: WalkStep[], retry: RetrySettings = FAST_RETRY): void {
  walker!.host.engine.startInstance("walkFixture", instanceId, {
    operationId: `op-${instanceId}`,
    slug: "acme",
    nodes,
    retry,
  });
}

function status(instanceId: string): WalkStatus | undefined {
  return walker!.instance(instanceId)?.customStatus as WalkStatus | undefined;
}

function stepStatus(instanceId: string, nodeId: string): string | undefined {
  return status(instanceId)?.steps.find((step) => step.id === nodeId)?.status;
}

/** Move the manual clock one retry interval at a time until the instance completes. */
async function runToCompletion(instanceId: string): Promise<WalkResult> {
  for (let i = 0; i < 50 && walker!.instance(instanceId)?.runtimeStatus !== "Completed"; i++) {
    await walker!.host.engine.advanceTime(1_000);
  }
  const state = walker!.instance(instanceId)!;
  expect(state.runtimeStatus, JSON.stringify(state.output)).toBe("Completed");
  return state.output as WalkResult;
}

describe("plan walker on the local durable host", () => {
  it("starts a node as soon as its own dependencies finish, while an unrelated slow branch still runs", async () => {
    walker = await startWalkerHost();
    const slow = deferred();
    control.behaviour.slow = { gate: slow.promise };
    // a -> c, slow (held), d needs both: c must run while slow is still held.
    start("critical", [node("a"), node("slow"), node("c", ["a"]), node("d", ["slow", "c"])]);

    await until(() => stepStatus("critical", "c") === "done", "c to finish while slow is held", { intervalMs: 5 });
    expect(stepStatus("critical", "slow")).toBe("running");
    expect(stepStatus("critical", "d")).toBe("pending");
    expect(control.log).not.toContain("finish:slow");
    expect(control.log).not.toContain("start:d");

    slow.resolve();
    const result = await runToCompletion("critical");
    expect(result.failed).toEqual([]);
    expect(result.steps.map((step) => [step.id, step.status, step.action])).toEqual([
      ["a", "done", "created"],
      ["slow", "done", "created"],
      ["c", "done", "created"],
      ["d", "done", "created"],
    ]);
    // c finished before slow; d started only after both of its dependencies finished.
    const at = (entry: string) => control.log.indexOf(entry);
    expect(at("finish:c")).toBeLessThan(at("finish:slow"));
    expect(at("start:d")).toBeGreaterThan(at("finish:slow"));
    expect(at("start:d")).toBeGreaterThan(at("finish:c"));
    // Each step ran exactly once (no duplicate scheduling from re-yielding tasks into Task.any).
    expect(control.attempts).toEqual({ a: 1, slow: 1, c: 1, d: 1 });
  });

  it("does not retry a permanent failure, retries transient ones, skips dependents and finishes independent branches", async () => {
    walker = await startWalkerHost();
    control.behaviour.refused = {
      permanent: { code: "AuthorizationFailed", message: "The client may not write Microsoft.KeyVault/vaults." },
    };
    control.behaviour.flaky = { failTimes: 2 };
    control.behaviour.broken = { alwaysThrow: "Service unavailable (503)\n    at fake stack line" };
    start("failures", [
      node("root"),
      node("refused", ["root"]),
      node("afterRefused", ["refused"]),
      node("twoLevelsDown", ["afterRefused"]),
      node("flaky", ["root"]),
      node("afterFlaky", ["flaky"]),
      node("broken", ["root"]),
      node("afterBroken", ["broken", "flaky"]),
      node("independent"),
    ]);
    const result = await runToCompletion("failures");

    const byId = Object.fromEntries(result.steps.map((step) => [step.id, step]));
    expect(result.failed).toEqual(["refused", "broken"]);
    expect(byId.refused).toMatchObject({
      status: "failed",
      error: "AuthorizationFailed: The client may not write Microsoft.KeyVault/vaults.",
    });
    expect(byId.afterRefused).toMatchObject({ status: "skipped", error: "skipped: refused failed" });
    expect(byId.twoLevelsDown).toMatchObject({ status: "skipped", error: "skipped: afterRefused skipped" });
    expect(byId.flaky).toMatchObject({ status: "done" });
    expect(byId.afterFlaky).toMatchObject({ status: "done" });
    // The activity's own message, one line, without the host's "Activity function ... failed:" prefix.
    expect(byId.broken).toMatchObject({
      status: "failed",
      error: "Service unavailable (503) (still failing after 3 attempts)",
    });
    expect(byId.afterBroken).toMatchObject({ status: "skipped", error: "skipped: broken failed" });
    expect(byId.independent.status).toBe("done");

    // Permanent: one delivery. Transient: until it succeeded (3rd). Exhausted: maxAttempts.
    expect(control.attempts).toMatchObject({ refused: 1, flaky: 3, broken: 3 });
    expect(control.attempts.afterRefused).toBeUndefined();
    expect(control.attempts.afterBroken).toBeUndefined();

    // Retried steps took the retry timers' time; timestamps come from the orchestration clock.
    expect(byId.flaky.durationMs).toBe(Date.parse(byId.flaky.finishedAt!) - Date.parse(byId.flaky.startedAt!));
    expect(byId.flaky.durationMs).toBeGreaterThanOrEqual(
      FAST_RETRY.firstRetryIntervalMs * (1 + FAST_RETRY.backoffCoefficient),
    );
    expect(byId.refused.durationMs).toBe(0);

    // The final status mirrors the result.
    const final = status("failures")!;
    expect(final.phase).toBe("failed");
    expect(final.steps).toEqual(result.steps);

    // The history shows three scheduled attempts for the transient step and one for the permanent one.
    // Each step ran in its own instance: three scheduled attempts for the transient step, one for
    // the permanent one; the walker itself only starts steps and waits for their reports.
    const attemptsOf = (nodeId: string) =>
      walker!
        .instance(`op-failures:${nodeId}`)!
        .history.filter((event) => event.EventType === HistoryEventType.TaskScheduled && event.Name === "ensureStep")
        .length;
    expect(["root", "refused", "flaky", "broken", "independent"].map(attemptsOf)).toEqual([1, 1, 3, 3, 1]);
    const walkerHistory = walker.instance("failures")!.history;
    expect(
      walkerHistory.some((event) => event.EventType === HistoryEventType.TaskScheduled && event.Name === "ensureStep"),
    ).toBe(false);
    expect(walkerHistory.filter((event) => event.EventType === HistoryEventType.EventRaised).length).toBeGreaterThan(0);
  });

  it("waits out the service's Retry-After, shows the attempt and when it runs again, and gives propagation delays a longer budget", async () => {
    walker = await startWalkerHost();
    const throttled = {
      code: "TooManyRequests",
      message: "throttled",
      retryable: true,
      retryClass: "transient" as const,
      retryAfterMs: 30_000,
    };
    const replicating = {
      code: "PrincipalNotFound",
      message: "principal not replicated yet",
      retryable: true,
      retryClass: "propagation" as const,
    };
    control.behaviour.throttled = { failures: [throttled] };
    // Five propagation failures: more than maxAttempts (3), within maxPropagationAttempts (6).
    control.behaviour.replicating = { failures: Array.from({ length: 5 }, () => replicating) };
    control.behaviour.hopeless = {
      failures: Array.from({ length: 10 }, () => ({ ...throttled, retryAfterMs: undefined })),
    };
    start("patience", [node("throttled"), node("replicating"), node("hopeless")], {
      ...FAST_RETRY,
      maxPropagationAttempts: 6,
    });

    await until(
      () => status("patience")?.steps.find((step) => step.id === "throttled")?.retryAt,
      "the throttled step to wait",
      { intervalMs: 5 },
    );
    const waiting = status("patience")!.steps.find((step) => step.id === "throttled")!;
    expect(waiting).toMatchObject({ status: "running", attempts: 1, error: "TooManyRequests: throttled" });
    // Retry-After (30 s), not the 1 s backoff.
    expect(Date.parse(waiting.retryAt!) - Date.parse(waiting.startedAt!)).toBe(30_000);
    for (let i = 0; i < 29; i++) await walker.host.engine.advanceTime(1_000);
    expect(control.attempts.throttled).toBe(1);
    await walker.host.engine.advanceTime(1_000);
    await until(() => control.attempts.throttled === 2, "the second delivery after Retry-After", { intervalMs: 5 });

    const result = await runToCompletion("patience");
    const byId = Object.fromEntries(result.steps.map((step) => [step.id, step]));
    expect(byId.throttled).toMatchObject({ status: "done", attempts: 2 });
    expect(byId.throttled.error).toBeUndefined();
    expect(byId.throttled.retryAt).toBeUndefined();
    expect(byId.replicating).toMatchObject({ status: "done", attempts: 6 });
    expect(byId.hopeless).toMatchObject({
      status: "failed",
      attempts: 3,
      error: "TooManyRequests: throttled (still failing after 3 attempts)",
    });
  });

  it("fails only the step whose reference cannot be resolved", async () => {
    walker = await startWalkerHost();
    control.behaviour.source = { outputs: { present: "yes" } };
    start("badref", [
      node("source"),
      node("consumer", ["source"], { value: { fromNode: "source", output: "missing" } }),
      node("next", ["consumer"]),
      node("other", ["source"], { value: { fromNode: "source", output: "present" } }),
    ]);
    const result = await runToCompletion("badref");
    const byId = Object.fromEntries(result.steps.map((step) => [step.id, step]));
    expect(byId.consumer).toMatchObject({ status: "failed", error: 'Node "source" has no output "missing".' });
    expect(byId.next.status).toBe("skipped");
    expect(byId.other.status).toBe("done");
    expect(control.received.other.desired).toEqual({ value: "yes" });
    expect(control.received.consumer).toBeUndefined();
  });

  it("walks the real install plan: references resolved from dependencies, status small and well-formed", async () => {
    walker = await startWalkerHost();
    const validation = validateInstallRequest("contoso", {
      channels: { teams: { enabled: true }, telegram: { enabled: true, mode: "webhook" }, whatsapp: { enabled: true } },
      foundry: { endpoint: "https://contoso-ai.openai.azure.com/", deployment: "gpt-4o" },
      allowedIdentities: ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"],
    });
    if (!validation.ok) throw new Error(JSON.stringify(validation.problems));
    const plan = planSlug(validation.spec, {
      subscriptionId: "00000000-0000-4000-8000-000000000001",
      tenantId: "00000000-0000-4000-8000-0000000000aa",
      brokerPrincipalId: "00000000-0000-4000-8000-0000000000b0",
      vaultUri: (name) => `https://${name}.vault.azure.net/`,
      sharedRegistry: {
        resourceId: "/subscriptions/s/resourceGroups/shared/providers/Microsoft.ContainerRegistry/registries/shire",
        loginServer: "shire.azurecr.io",
      },
    });
    control.defaultOutputs = (nodeId) => outputsReferencedFrom(plan.nodes, nodeId);
    const sizes: number[] = [];
    start("realplan", ensureSteps(plan.nodes));
    for (let i = 0; i < 100 && walker.instance("realplan")?.runtimeStatus !== "Completed"; i++) {
      await walker.host.engine.advanceTime(1_000);
      sizes.push(Buffer.byteLength(JSON.stringify(walker.instance("realplan")?.customStatus ?? {})));
    }
    const state = walker.instance("realplan")!;
    expect(state.runtimeStatus).toBe("Completed");
    const result = state.output as WalkResult;
    expect(result.failed).toEqual([]);
    expect(result.steps.every((step) => step.status === "done")).toBe(true);
    expect(Object.keys(control.received).sort()).toEqual(plan.nodes.map((n) => n.id).sort());

    // Every reference in the plan reached its activity as the dependency's output (formatted).
    for (const planNode of plan.nodes) {
      const received = control.received[planNode.id].desired;
      expectResolved(planNode.desired, received, `${planNode.id}.desired`);
    }

    const final = state.customStatus as WalkStatus;
    expect(Buffer.byteLength(JSON.stringify(final))).toBeLessThan(16 * 1024);
    expect(Math.max(...sizes)).toBeLessThan(16 * 1024);
    expect(final).toMatchObject({ operationId: "op-realplan", slug: "acme", kind: "install", phase: "succeeded" });
    for (const step of final.steps) {
      expect(
        Object.keys(step).every((key) =>
          [
            "id",
            "title",
            "kind",
            "status",
            "action",
            "startedAt",
            "finishedAt",
            "durationMs",
            "error",
            "attempts",
            "resourceId",
          ].includes(key),
        ),
      ).toBe(true);
      expect(step.startedAt! <= step.finishedAt!).toBe(true);
    }
  });
});

describe("status budget and error text", () => {
  it("keeps a status with many long errors under the budget, shortening errors first", () => {
    const steps = Array.from({ length: 80 }, (_, i) => ({
      id: `roleAssignment:some-long-node-name-${i}`,
      status: "failed" as const,
      startedAt: "2026-11-25T10:00:00.000Z",
      finishedAt: "2026-11-25T10:01:00.000Z",
      durationMs: 60_000,
      error: shortError(`Activity function 'ensureRoleAssignment' failed: ${"x".repeat(1_000)}`),
    }));
    expect(steps[0].error.length).toBe(300);
    const status: WalkStatus = {
      operationId: "op",
      slug: "acme",
      kind: "install",
      phase: "failed",
      counts: stepCounts(steps),
      steps,
    };
    expect(Buffer.byteLength(JSON.stringify(status))).toBeGreaterThan(MAX_STATUS_BYTES);
    const fitted = fitStatus(status);
    expect(Buffer.byteLength(JSON.stringify(fitted))).toBeLessThanOrEqual(MAX_STATUS_BYTES);
    expect(fitted.steps).toHaveLength(80);
    expect(fitted.steps.every((step) => step.status === "failed")).toBe(true);
    // A status already within budget is untouched.
    const small = { ...status, steps: steps.slice(0, 3) };
    expect(fitStatus(small)).toBe(small);
  });
});

function expectResolved(planned: unknown, received: unknown, where: string): void {
  if (isNodeReference(planned)) {
    const value = `${planned.fromNode}.${planned.output}`;
    expect(received, where).toBe(planned.format === undefined ? value : planned.format.split("${value}").join(value));
    return;
  }
  if (Array.isArray(planned)) {
    expect(Array.isArray(received), where).toBe(true);
    planned.forEach((item, i) => expectResolved(item, (received as unknown[])[i], `${where}[${i}]`));
    return;
  }
  if (planned && typeof planned === "object") {
    for (const [key, item] of Object.entries(planned))
      expectResolved(item, (received as Record<string, unknown>)[key], `${where}.${key}`);
    return;
  }
  expect(received, where).toEqual(planned);
}
