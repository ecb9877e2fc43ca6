/**
 * The dry run behind `POST /api/slugs/{slug}/plan`: every plan node's own compare logic run with
 * writes refused (activities/inspect.ts), in dependency order, so the answer is exactly what
 * install would do: `create`, `update` (with the differing properties) or `unchanged`; and the
 * removals install's prune would make (`delete`), checked the same way. A node whose inputs come
 * from a resource that does not exist yet (or would change) is reported as waiting on it. Reads
 * that fail transiently are retried like a step's (throttling, 5xx), so a flaky moment is not
 * an error in the answer.
 */
import { resolveReferences, type Outputs } from "../contract/reference";
import type { ActivityDeps } from "../../activities/deps";
import { inspectResource, type InspectOutcome } from "../../activities/inspect";
import { kindActivities } from "../../activities/registry";
import { runActivity } from "../../activities/define";
import type { ResourceKind } from "../contract/resources";
import { topologicalOrder, type PlanNode, type SlugPlan } from "../model/plan";
import type { WalkStep } from "../../orchestrations/plan-walker";
import { BrokerError } from "../errors";

export interface PlannedChange {
  node: string;
  kind: string;
  title: string;
  action: "create" | "update" | "unchanged" | "delete" | "after-dependencies" | "error";
  changed?: string[];
  waitingOn?: string[];
  error?: string;
}

const ATTEMPTS = 6;

/** Inspect with the read retries a step would get (transient failures only; a short wait). */
async function inspectWithRetry(
  kind: ResourceKind,
  deps: ActivityDeps,
  input: Parameters<typeof inspectResource>[2],
): Promise<InspectOutcome> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await inspectResource(kind, deps, input);
    if (outcome.state !== "unknown" || !outcome.retryable || attempt >= ATTEMPTS) return outcome;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(Math.max(200 * 2 ** (attempt - 1), outcome.retryAfterMs ?? 0), 5_000)),
    );
  }
}

class WouldDelete extends BrokerError {
  constructor() {
    super("DryRunWouldDelete", "dry run: would delete", { retryable: false });
  }
}

/** Would removing this resource delete something? (Its own remove, run with writes refused.) */
async function wouldDelete(step: WalkStep, deps: ActivityDeps, known: Record<string, Outputs>): Promise<PlannedChange> {
  const base = { node: step.id, kind: step.kind, title: step.title };
  const readOnly: ActivityDeps = {
    ...deps,
    beforeWrite: () => {
      throw new WouldDelete();
    },
  };
  const desired = resolveReferences(step.desired as never, known, { missing: "null" });
  for (let attempt = 1; ; attempt++) {
    const result = await runActivity(kindActivities(step.kind as ResourceKind, readOnly).remove, {
      operationId: "dry-run",
      slug: "",
      nodeId: step.id,
      desired,
    });
    if (!("failed" in result)) return { ...base, action: "unchanged", changed: ["already gone"] };
    if (result.code === "DryRunWouldDelete") return { ...base, action: "delete" };
    if (!result.retryable || attempt >= ATTEMPTS)
      return { ...base, action: "error", error: `${result.code}: ${result.message}` };
    await new Promise((resolve) => setTimeout(resolve, Math.min(200 * 2 ** (attempt - 1), 5_000)));
  }
}

export async function dryRun(
  plan: SlugPlan,
  deps: ActivityDeps,
  removals: WalkStep[] = [],
  known: Record<string, Outputs> = {},
): Promise<PlannedChange[]> {
  const outputs: Record<string, Outputs> = {};
  const outcome = new Map<string, PlannedChange>();
  // Each node as soon as everything it depends on has an answer: independent reads run together.
  const visit = async (node: PlanNode): Promise<void> => {
    const base = { node: node.id, kind: node.kind, title: node.title };
    const waitingOn = node.dependsOn.filter((dependency) => outcome.get(dependency)?.action !== "unchanged");
    let desired: unknown;
    try {
      desired = resolveReferences(node.desired as never, outputs);
    } catch {
      outcome.set(node.id, { ...base, action: "after-dependencies", waitingOn });
      return;
    }
    const inspected = await inspectWithRetry(node.kind, deps, {
      operationId: "dry-run",
      slug: plan.slug,
      nodeId: node.id,
      desired: desired as never,
    });
    if (inspected.state === "absent")
      outcome.set(node.id, { ...base, action: "create", ...(waitingOn.length ? { waitingOn } : {}) });
    else if (inspected.state === "differs")
      outcome.set(node.id, {
        ...base,
        action: "update",
        ...(inspected.changed.length ? { changed: inspected.changed } : {}),
        ...(waitingOn.length ? { waitingOn } : {}),
      });
    else if (inspected.state === "unknown")
      outcome.set(node.id, {
        ...base,
        action: waitingOn.length ? "after-dependencies" : "error",
        ...(waitingOn.length ? { waitingOn } : { error: inspected.error }),
      });
    else {
      outputs[node.id] = inspected.outputs ?? {};
      outcome.set(node.id, { ...base, action: "unchanged" });
    }
  };
  const pending = new Set(topologicalOrder(plan.nodes));
  while (pending.size > 0) {
    const ready = [...pending].filter((node) => node.dependsOn.every((dependency) => outcome.has(dependency)));
    for (const node of ready) pending.delete(node);
    await Promise.all(ready.map(visit));
  }
  const changes = plan.nodes.map((node) => outcome.get(node.id)!);
  // Removals first in the answer: they are what an operator must not miss.
  const deletes = await Promise.all(removals.map((step) => wouldDelete(step, deps, known)));
  return [...deletes, ...changes];
}
