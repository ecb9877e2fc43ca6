/**
 * Walks a desired-state graph inside an orchestration: every node starts as soon as its own
 * dependencies are done (critical path, not levels), transient failures are retried with backoff
 * by the durable retry policy, a permanent failure fails that step and skips its dependents while
 * independent branches run to completion (so a re-run continues from a fuller footprint), and
 * custom status shows every step. Deterministic: time only from `currentUtcDateTime`.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import { isActivityFailure, resolveReferences, type ActivityInput, type ActivityResult } from "../activities/contract";
import type { PlanNode } from "../src/model/plan";
import type { OperationStep } from "../src/operations/records";

export interface RetrySettings {
  firstRetryIntervalMs: number;
  backoffCoefficient: number;
  maxRetryIntervalMs: number;
  maxAttempts: number;
}

/** Azure-friendly defaults: 2 s, 4 s, 8 s ... capped at 60 s, six attempts. */
export const DEFAULT_RETRY: RetrySettings = { firstRetryIntervalMs: 2_000, backoffCoefficient: 2, maxRetryIntervalMs: 60_000, maxAttempts: 6 };

export interface WalkOptions {
  operationId: string;
  slug: string;
  kind: string;
  retry?: RetrySettings;
}

export interface WalkResult {
  steps: OperationStep[];
  results: Record<string, ActivityResult>;
  failed: string[];
}

/** Custom status the walker publishes (kept well under the 16 KB the service keeps). */
export interface WalkStatus {
  operationId: string;
  slug: string;
  kind: string;
  phase: "running" | "succeeded" | "failed";
  counts: Record<OperationStep["status"], number>;
  steps: OperationStep[];
}

const MAX_ERROR_LENGTH = 300;

export function activityNameForKind(kind: string): string {
  return `ensure${kind.charAt(0).toUpperCase()}${kind.slice(1)}`;
}

function retryOptions(settings: RetrySettings): df.RetryOptions {
  const options = new df.RetryOptions(settings.firstRetryIntervalMs, settings.maxAttempts);
  options.backoffCoefficient = settings.backoffCoefficient;
  options.maxRetryIntervalInMilliseconds = settings.maxRetryIntervalMs;
  return options;
}

function firstLine(message: string): string {
  // Durable failures read "<Reason> \n <Details>": keep the reason, trimmed.
  const line = message.split("\n")[0].trim();
  return line.length > MAX_ERROR_LENGTH ? `${line.slice(0, MAX_ERROR_LENGTH - 3)}...` : line;
}

export function* walkPlan(context: OrchestrationContext, nodes: PlanNode[], options: WalkOptions): Generator<Task, WalkResult, unknown> {
  const retry = retryOptions(options.retry ?? DEFAULT_RETRY);
  const steps = new Map<string, OperationStep>(nodes.map((node) => [node.id, { id: node.id, title: node.title, kind: node.kind, status: "pending" }]));
  const results: Record<string, ActivityResult> = {};
  const running = new Map<string, Task>();
  const now = () => context.df.currentUtcDateTime;

  const publish = (phase: WalkStatus["phase"]) => {
    const list = [...steps.values()];
    const counts = { pending: 0, running: 0, done: 0, failed: 0, skipped: 0 };
    for (const step of list) counts[step.status]++;
    const status: WalkStatus = { operationId: options.operationId, slug: options.slug, kind: options.kind, phase, counts, steps: list };
    context.df.setCustomStatus(status);
  };

  const finish = (nodeId: string, task: Task) => {
    running.delete(nodeId);
    const step = steps.get(nodeId)!;
    step.finishedAt = now().toISOString();
    step.durationMs = now().getTime() - Date.parse(step.startedAt!);
    if (task.isFaulted) {
      step.status = "failed";
      step.error = firstLine(String((task.result as Error)?.message ?? task.result));
      return;
    }
    const value = task.result;
    if (isActivityFailure(value)) {
      step.status = "failed";
      step.error = firstLine(value.message);
      return;
    }
    const result = value as ActivityResult;
    results[nodeId] = result;
    step.status = "done";
    step.action = result.action;
  };

  for (;;) {
    // Skip what can no longer run, then start everything whose dependencies are done.
    let changed = true;
    while (changed) {
      changed = false;
      for (const node of nodes) {
        const step = steps.get(node.id)!;
        if (step.status !== "pending") continue;
        const blocked = node.dependsOn.find((dependency) => ["failed", "skipped"].includes(steps.get(dependency)!.status));
        if (blocked) {
          step.status = "skipped";
          step.error = `skipped: ${blocked} ${steps.get(blocked)!.status}`;
          changed = true;
        }
      }
    }
    for (const node of nodes) {
      const step = steps.get(node.id)!;
      if (step.status !== "pending" || !node.dependsOn.every((dependency) => steps.get(dependency)!.status === "done")) continue;
      const input: ActivityInput = { operationId: options.operationId, slug: options.slug, nodeId: node.id, desired: resolveReferences(node.desired, results) };
      running.set(node.id, context.df.callActivityWithRetry(activityNameForKind(node.kind), retry, input));
      step.status = "running";
      step.startedAt = now().toISOString();
    }
    publish("running");
    if (running.size === 0) break;

    // Tasks that finished together are settled without yielding again: Task.any over a task
    // that already has its result would never resume.
    const settled = [...running.entries()].filter(([, task]) => task.isCompleted || task.isFaulted);
    if (settled.length > 0) {
      for (const [nodeId, task] of settled) finish(nodeId, task);
      continue;
    }
    const winner = (yield context.df.Task.any([...running.values()])) as Task;
    const nodeId = [...running.entries()].find(([, task]) => task === winner)?.[0];
    if (nodeId === undefined) throw new Error("Task.any returned a task the walker is not tracking.");
    finish(nodeId, winner);
  }

  const failed = [...steps.values()].filter((step) => step.status === "failed").map((step) => step.id);
  publish(failed.length > 0 ? "failed" : "succeeded");
  return { steps: [...steps.values()], results, failed };
}
