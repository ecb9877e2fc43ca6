/**
 * The dry run behind `GET /api/slugs/{slug}/plan`: walk the plan in dependency order and run each
 * node's own converge logic with writes refused, so the answer is exactly what install would do:
 * `create`, `update` (with the differing properties) or `unchanged`. A node whose inputs come from
 * a resource that does not exist yet (or would change) is reported as waiting on it.
 */
import type { ActivityResult } from "../../activities/contract";
import { resolveReferences } from "../../activities/contract";
import type { ActivityDeps } from "../../activities/deps";
import { runActivity, type ActivityHandler } from "../../activities/define";
import { topologicalOrder, type SlugPlan } from "./plan";
import { BrokerError } from "../errors";

export interface PlannedChange {
  node: string;
  kind: string;
  title: string;
  action: "create" | "update" | "unchanged" | "after-dependencies" | "error";
  changed?: string[];
  waitingOn?: string[];
  error?: string;
}

/** Thrown where the activity would write; permanent, so the handler stops without retrying. */
class WouldWrite extends BrokerError {
  constructor(
    readonly changed: string[],
    readonly existed: boolean,
  ) {
    super("DryRunWouldWrite", "dry run: would write", { retryable: false });
  }
}

export async function dryRun(
  plan: SlugPlan,
  deps: ActivityDeps,
  handlersFor: (deps: ActivityDeps) => Record<string, ActivityHandler<never>>,
): Promise<PlannedChange[]> {
  let intercepted: WouldWrite | undefined;
  const readOnly: ActivityDeps = {
    ...deps,
    beforeWrite: (changed, existed) => {
      intercepted = new WouldWrite(changed, existed);
      throw intercepted;
    },
  };
  const handlers = handlersFor(readOnly);
  const results: Record<string, ActivityResult> = {};
  const outcome = new Map<string, PlannedChange>();
  for (const node of topologicalOrder(plan.nodes)) {
    const base = { node: node.id, kind: node.kind, title: node.title };
    const waitingOn = node.dependsOn.filter((dependency) => outcome.get(dependency)?.action !== "unchanged");
    let desired: Record<string, unknown>;
    try {
      desired = resolveReferences(node.desired, results);
    } catch {
      outcome.set(node.id, { ...base, action: "after-dependencies", waitingOn });
      continue;
    }
    intercepted = undefined;
    const result = await runActivity(handlers[node.kind], {
      operationId: "dry-run",
      slug: plan.slug,
      nodeId: node.id,
      desired: desired as never,
    }).catch((error: unknown) => ({
      failed: true as const,
      code: "Error",
      message: (error as Error).message,
      nodeId: node.id,
    }));
    const wouldWrite = intercepted as WouldWrite | undefined;
    if (wouldWrite) {
      outcome.set(node.id, {
        ...base,
        action: wouldWrite.existed ? "update" : "create",
        ...(wouldWrite.changed.length ? { changed: wouldWrite.changed } : {}),
        ...(waitingOn.length ? { waitingOn } : {}),
      });
    } else if ("failed" in result) {
      outcome.set(node.id, {
        ...base,
        action: waitingOn.length ? "after-dependencies" : "error",
        ...(waitingOn.length ? { waitingOn } : { error: result.message }),
      });
    } else {
      results[node.id] = result;
      outcome.set(node.id, { ...base, action: "unchanged" });
    }
  }
  return plan.nodes.map((node) => outcome.get(node.id)!);
}
