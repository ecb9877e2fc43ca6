/**
 * The install benchmark (bench/results/install.json): one install with Azure-shaped latencies (the
 * "realistic" preset, scaled by BENCH_LATENCY_SCALE) on the real local host, against two figures
 * taken from the sandbox itself:
 *
 * - the bound (bench/bound.ts): the plan's longest dependency chain on the sandbox's own timings
 *   (each request's latency, each operation's duration, each propagation delay), with nothing
 *   spent by the broker;
 * - the sequential baseline: the same activities one after another (in topological order, each
 *   retried on the same schedule as the walker retries it), run in this process on a sandbox of
 *   its own. Since one request at a time belongs to one step there, that run's timings are also
 *   what the bound is computed from.
 *
 * What the broker waits by is scaled with the latencies: the walker's retry schedule
 * (SHIRE_RETRY_FIRST_INTERVAL_MS and SHIRE_RETRY_MAX_INTERVAL_MS: 2 s and 60 s times the scale),
 * its polling of long-running operations (SHIRE_OPERATION_POLL_INTERVAL_MS: the sandbox's 1 s
 * Retry-After times the scale, which HTTP's whole seconds cannot say) and ARM's token buckets
 * (sizes and refill rates divided by the scale: the same budget per unit of the compressed time).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startSandbox, faultPreset, type SandboxFaultSettings } from "../src/sandbox";
import { FunctionsHost } from "../src/runtime/host";
import { planSlug, topologicalOrder } from "../src/model/plan";
import { validateInstallRequest } from "../src/model/validate";
import { planContextFromEnv } from "../src/api/plan-context";
import { createActivityDeps } from "../activities/deps";
import { runActivity } from "../activities/define";
import { kindActivities } from "../activities/registry";
import { resolveReferences, type Outputs } from "../src/contract/reference";
import { isActivityFailure } from "../src/contract/activity";
import type { PlanNode } from "../src/contract/resources";
import { DEFAULT_RETRY, retryDelayMs, type RetrySettings } from "../orchestrations/step-events";
import { sandboxBound, tracesFromWindows } from "./bound";
import { removeBenchDir } from "./wave";

interface Step {
  id: string;
  status: string;
  durationMs?: number;
  attempts?: number;
  startedAt?: string;
  finishedAt?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The walker's default schedule with its intervals scaled (attempt budgets unchanged). */
export function scaledRetry(scale: number): RetrySettings {
  return {
    ...DEFAULT_RETRY,
    firstRetryIntervalMs: Math.max(1, Math.round(DEFAULT_RETRY.firstRetryIntervalMs * scale)),
    maxRetryIntervalMs: Math.max(1, Math.round(DEFAULT_RETRY.maxRetryIntervalMs * scale)),
    maxPropagationIntervalMs: Math.max(1, Math.round(DEFAULT_RETRY.maxPropagationIntervalMs! * scale)),
  };
}

/** The sandbox's Retry-After on a running operation (src/sandbox/arm/operations.ts): one second. */
const SANDBOX_RETRY_AFTER_MS = 1_000;

/** How often the broker polls an operation on the compressed clock: the sandbox's hint, scaled. */
export function scaledOperationPollMs(scale: number): number {
  return Math.max(1, Math.round(SANDBOX_RETRY_AFTER_MS * scale));
}

export async function installAndWait(
  baseUrl: string,
  slug: string,
  body: unknown = {},
): Promise<{ wallMs: number; acceptedMs: number; steps: Step[]; status: string; startedAt: number }> {
  const started = Date.now();
  const response = await fetch(`${baseUrl}/api/slugs/${slug}/install`, { method: "POST", body: JSON.stringify(body) });
  if (response.status !== 202) throw new Error(`install ${slug}: ${response.status} ${await response.text()}`);
  const { operationId } = (await response.json()) as { operationId: string };
  // The request's own work: validation, placement and quota reads, the record, the instance.
  const acceptedMs = Date.now() - started;
  for (;;) {
    const operation = (await (await fetch(`${baseUrl}/api/operations/${operationId}`)).json()) as {
      status: string;
      steps: Step[];
    };
    if (operation.status !== "running")
      return {
        wallMs: Date.now() - started,
        acceptedMs,
        steps: operation.steps,
        status: operation.status,
        startedAt: started,
      };
    await sleep(25);
  }
}

function useSandboxEnv(sandbox: { port: number; caFile: string }): void {
  process.env.SHIRE_SANDBOX_PORT = String(sandbox.port);
  process.env.SHIRE_SANDBOX_CA_FILE = sandbox.caFile;
  process.env.SHIRE_CLOUD = "Sandbox";
}

function planFor(slug: string): PlanNode[] {
  const validation = validateInstallRequest(slug, {});
  if (!validation.ok) throw new Error("default spec invalid");
  return planSlug(validation.spec, planContextFromEnv()).nodes;
}

/**
 * The plan's activities one after another, each retried as the walker's step would be (same
 * schedule, Retry-After honoured): wall time, and each step's attempt windows.
 */
async function runSequentially(
  nodes: PlanNode[],
  deps: ReturnType<typeof createActivityDeps>,
  retry: RetrySettings,
): Promise<{ wallMs: number; windows: Map<string, { startedAt: number; endedAt: number }[]>; attempts: number }> {
  const outputs: Record<string, Outputs> = {};
  const windows = new Map<string, { startedAt: number; endedAt: number }[]>();
  let attemptsTotal = 0;
  const started = Date.now();
  for (const node of topologicalOrder(nodes)) {
    const desired = resolveReferences(node.desired as never, outputs);
    const handler = kindActivities(node.kind, deps).ensure as never;
    const spans: { startedAt: number; endedAt: number }[] = [];
    windows.set(node.id, spans);
    for (let attempt = 1; ; attempt++) {
      attemptsTotal++;
      const startedAt = Date.now();
      const outcome = await runActivity(handler, {
        operationId: "sequential",
        slug: "bench-one",
        nodeId: node.id,
        desired,
        attempt,
      });
      spans.push({ startedAt, endedAt: Date.now() });
      if (!isActivityFailure(outcome)) {
        outputs[node.id] = outcome.outputs;
        break;
      }
      const budget =
        outcome.retryClass === "propagation" ? (retry.maxPropagationAttempts ?? retry.maxAttempts) : retry.maxAttempts;
      if (!outcome.retryable || attempt >= budget)
        throw new Error(`sequential baseline: ${node.id} failed: ${outcome.code}: ${outcome.message}`);
      await sleep(retryDelayMs(retry, attempt, outcome.retryAfterMs, outcome.retryClass));
    }
  }
  return { wallMs: Date.now() - started, windows, attempts: attemptsTotal };
}

export async function runInstallBench(repoRoot: string): Promise<Record<string, unknown>> {
  const scale = Number(process.env.BENCH_LATENCY_SCALE ?? 0.02);
  const retry = scaledRetry(scale);
  const operationPollMs = scaledOperationPollMs(scale);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-bench-"));
  const faults: Partial<SandboxFaultSettings> = {
    ...faultPreset("realistic"),
    latencyScale: scale,
    graphReplicationDelayMs: 0,
    throttleScale: 1 / scale,
  };

  // 1. The sequential baseline, on a sandbox of its own: the bound's timings.
  const quiet = await startSandbox({ stateDir: path.join(dir, "sequential"), faults, timings: true });
  let sequential: Awaited<ReturnType<typeof runSequentially>>;
  let bound: ReturnType<typeof sandboxBound>;
  try {
    useSandboxEnv(quiet);
    const nodes = planFor("bench-one");
    sequential = await runSequentially(
      nodes,
      createActivityDeps({ ...quiet.context(), operationPollIntervalMs: operationPollMs }),
      retry,
    );
    bound = sandboxBound(
      tracesFromWindows(
        nodes.map((node) => ({ id: node.id, dependsOn: node.dependsOn, windows: sequential.windows.get(node.id)! })),
        quiet.timings(),
      ),
    );
  } finally {
    await quiet.stop();
  }

  // 2. The install through the API, on a fresh sandbox: the walker, its step instances, the records.
  const sandbox = await startSandbox({ stateDir: path.join(dir, "sandbox"), faults });
  useSandboxEnv(sandbox);
  process.env.SHIRE_RETRY_FIRST_INTERVAL_MS = String(retry.firstRetryIntervalMs);
  process.env.SHIRE_RETRY_MAX_INTERVAL_MS = String(retry.maxRetryIntervalMs);
  process.env.SHIRE_OPERATION_POLL_INTERVAL_MS = String(operationPollMs);
  const host = new FunctionsHost({ appRoot: repoRoot, port: 0, stateDir: path.join(dir, "host"), log: () => {} });
  await host.start();
  try {
    const single = await installAndWait(host.url, "bench-one");
    const rerun = await installAndWait(host.url, "bench-one");
    const parallelStart = Date.now();
    const parallel = await Promise.all(
      ["bench-a", "bench-b", "bench-c", "bench-d"].map((slug) => installAndWait(host.url, slug)),
    );
    const parallelWallMs = Date.now() - parallelStart;
    const sumOfSteps = single.steps.reduce((sum, step) => sum + (step.durationMs ?? 0), 0);
    const ratio = (a: number, b: number) => (b > 0 ? Number((a / b).toFixed(3)) : null);
    return {
      latencyScale: scale,
      retry: {
        firstRetryIntervalMs: retry.firstRetryIntervalMs,
        maxRetryIntervalMs: retry.maxRetryIntervalMs,
        operationPollIntervalMs: operationPollMs,
        armThrottleScale: 1 / scale,
      },
      install: {
        status: single.status,
        wallMs: single.wallMs,
        acceptedMs: single.acceptedMs,
        steps: single.steps.length,
        sumOfStepDurationsMs: sumOfSteps,
        retriedSteps: single.steps
          .filter((step) => (step.attempts ?? 1) > 1)
          .map((step) => ({ id: step.id, attempts: step.attempts })),
      },
      bound: {
        ms: bound.boundMs,
        chain: bound.chain,
        idealSequentialMs: bound.sequentialMs,
        waitsLeftOut: bound.waits,
        gatesApplied: bound.gatesApplied,
        finishMs: bound.finishMs,
      },
      // Where the wall went: every step's ideal finish against its measured start and finish
      // (the chain's first, in order), so a step off the chain that held it up shows too.
      stepsMeasured: [
        ...bound.chain,
        ...single.steps.map((step) => step.id).filter((id) => !bound.chain.includes(id)),
      ].map((id) => {
        const step = single.steps.find((candidate) => candidate.id === id);
        const at = (iso?: string) => (iso ? Date.parse(iso) - single.startedAt : null);
        return {
          id,
          onChain: bound.chain.includes(id),
          idealFinishMs: bound.finishMs[id],
          measuredStartMs: at(step?.startedAt),
          measuredFinishMs: at(step?.finishedAt),
          attempts: step?.attempts ?? 1,
        };
      }),
      sequential: { wallMs: sequential.wallMs, attempts: sequential.attempts },
      wallOverBound: ratio(single.wallMs, bound.boundMs),
      sequentialOverWall: ratio(sequential.wallMs, single.wallMs),
      targets: {
        wallWithin110PercentOfBound: single.wallMs <= 1.1 * bound.boundMs,
        atLeast2point5xFasterThanSequential: sequential.wallMs >= 2.5 * single.wallMs,
      },
      reinstallNoChange: { status: rerun.status, wallMs: rerun.wallMs },
      fourInParallel: {
        statuses: parallel.map((run) => run.status),
        wallMs: parallelWallMs,
        perInstallMs: parallel.map((run) => run.wallMs),
      },
      slowestSteps: [...single.steps]
        .sort((a, b) => (b.durationMs ?? 0) - (a.durationMs ?? 0))
        .slice(0, 5)
        .map((step) => ({ id: step.id, durationMs: step.durationMs })),
      sandboxRequests: sandbox.requestCount(),
    };
  } finally {
    await host.stop();
    await sandbox.stop();
    removeBenchDir(dir);
    delete process.env.SHIRE_RETRY_FIRST_INTERVAL_MS;
    delete process.env.SHIRE_RETRY_MAX_INTERVAL_MS;
    delete process.env.SHIRE_OPERATION_POLL_INTERVAL_MS;
  }
}

/** One line per figure, for the console. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function installSummary(r: Record<string, any>): string[] {
  return [
    `install: ${r.install.wallMs} ms wall for ${r.install.steps} steps (latency scale ${r.latencyScale}; retries every ${r.retry.firstRetryIntervalMs} ms doubling to ${r.retry.maxRetryIntervalMs} ms; operations polled every ${r.retry.operationPollIntervalMs} ms)`,
    `bound from the sandbox's timings: ${r.bound.ms} ms along ${r.bound.chain.join(" > ")}; wall / bound = ${r.wallOverBound} (target <= 1.10: ${r.targets.wallWithin110PercentOfBound ? "met" : "not met"})`,
    `sequential baseline (the same activities one after another): ${r.sequential.wallMs} ms; sequential / wall = ${r.sequentialOverWall} (target >= 2.5: ${r.targets.atLeast2point5xFasterThanSequential ? "met" : "not met"})`,
    `steps retried: ${r.install.retriedSteps.map((step: Step) => `${step.id} x${step.attempts}`).join(", ") || "none"}`,
    `re-install with nothing to change: ${r.reinstallNoChange.wallMs} ms; 4 slugs in parallel: ${r.fourInParallel.wallMs} ms wall`,
  ];
}
