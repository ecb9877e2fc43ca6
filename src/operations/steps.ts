/**
 * The walks operations run, built from a plan and what the slug has applied:
 *
 * - install converges every plan node (`ensure`) and prunes: a node the slug has applied that the
 *   new plan no longer holds is removed, after every node that depended on it has been converged
 *   without it (the app no longer references a secret before the secret goes) and after its
 *   removed dependents (the bot before its app registration);
 * - teardown retires (the slug group's assignment removed, the app stopped), can restore exactly
 *   that, and destroys: the resources whose kind's teardown policy is `remove` (the resource
 *   group, whose deletion takes everything in it; Entra objects; grants outside the group; the
 *   vault when purging), each before whatever it depends on.
 *
 * The kinds' policies come from the registry; the order comes from the plan's dependencies.
 */
import { kindDefinition } from "../../activities/registry";
import type { WalkStep } from "../../orchestrations/plan-walker";
import type { Outputs } from "../contract/reference";
import type { PlanNode, ResourceKind } from "../contract/resources";
import { planNode, transitiveDependencies, type SlugPlan } from "../model/plan";
import type { AppliedState } from "./records";

export function ensureSteps(nodes: PlanNode[]): WalkStep[] {
  return nodes.map((node) => ({ ...node, verb: "ensure" as const }));
}

/** Outputs the slug's earlier operations recorded, for references to nodes outside a walk. */
export function knownOutputs(applied: AppliedState | undefined): Record<string, Outputs> {
  return Object.fromEntries(Object.entries(applied?.nodes ?? {}).map(([id, node]) => [id, node.outputs]));
}

/** Removal steps for what the slug has applied and `plan` no longer holds (never a shared resource). */
export function pruneSteps(plan: SlugPlan, applied: AppliedState | undefined): WalkStep[] {
  const planned = new Set(plan.nodes.map((node) => node.id));
  const appliedNodes = Object.entries(applied?.nodes ?? {});
  const dropped = appliedNodes.filter(([id, node]) => !planned.has(id) && !isShared(node.kind, node.desired));
  const droppedIds = new Set(dropped.map(([id]) => id));
  return dropped.map(([id, node]) => ({
    id,
    kind: node.kind,
    verb: "remove" as const,
    title: `Remove ${node.kind} ${id} (no longer in the plan)`,
    // Whatever depended on it goes first (removed) or is converged without it first (kept).
    dependsOn: appliedNodes
      .filter(([otherId, other]) => other.dependsOn.includes(id) && (droppedIds.has(otherId) || planned.has(otherId)))
      .map(([otherId]) => otherId),
    desired: node.desired,
  }));
}

/** Install: converge the plan, then remove what it dropped. */
export function installSteps(plan: SlugPlan, applied: AppliedState | undefined): WalkStep[] {
  return [...ensureSteps(plan.nodes), ...pruneSteps(plan, applied)];
}

function isShared(kind: string, desired: unknown): boolean {
  return kind === "entraGroup" && (desired as { shared?: boolean } | null)?.shared === true;
}

/** The resources teardown removes itself, dependents first; everything else goes with them. */
export function destroySteps(
  plan: SlugPlan,
  applied: AppliedState | undefined,
  options: { purge: boolean; resourceGroupId: string },
): WalkStep[] {
  // What was applied is what exists; the plan adds what a half-finished install may have made.
  const nodes = new Map<
    string,
    { id: string; kind: ResourceKind; title: string; dependsOn: string[]; desired: unknown }
  >();
  for (const node of plan.nodes) nodes.set(node.id, node);
  for (const [id, node] of Object.entries(applied?.nodes ?? {})) {
    const known = nodes.get(id);
    nodes.set(id, {
      id,
      kind: node.kind as ResourceKind,
      title: known?.title ?? `${node.kind} ${id}`,
      dependsOn:
        known?.dependsOn ?? node.dependsOn.filter((dependency) => nodes.has(dependency) || applied!.nodes[dependency]),
      desired: node.desired,
    });
  }
  const graph = [...nodes.values()];
  const doomed = graph.filter(
    (node) => kindDefinition(node.kind).teardown(node.desired as never, options) === "remove",
  );
  return doomed.map((node) => ({
    id: node.id,
    kind: node.kind,
    verb: "remove" as const,
    title: `Remove ${node.title}`,
    dependsOn: doomed
      .filter((other) => other.id !== node.id && transitiveDependencies(graph, other.id).has(node.id))
      .map((other) => other.id),
    desired: node.desired,
    ...(options.purge ? { purge: true } : {}),
  }));
}

/** The plan node a retire or restore step works on. */
function nodeOf(plan: SlugPlan, id: string): PlanNode {
  const node = plan.nodes.find((candidate) => candidate.id === id);
  if (!node) throw new TypeError(`The plan has no node '${id}'.`);
  return node;
}

const SLUG_ASSIGNMENT = "assignment:slug";

/** Retire: nobody new signs in (the slug group's assignment goes; operators keep theirs), the app stops. Data stays. */
export function retireSteps(plan: SlugPlan): WalkStep[] {
  const assignment = nodeOf(plan, SLUG_ASSIGNMENT);
  const app = nodeOf(plan, "containerApp") as Extract<PlanNode, { kind: "containerApp" }>;
  return [
    {
      ...assignment,
      id: `retire:${SLUG_ASSIGNMENT}`,
      dependsOn: [],
      verb: "remove",
      title: `Retire: ${assignment.title.replace(/^Assign/, "unassign")}`,
    },
    {
      ...planNode("appRunState", "retire:app", "Retire: stop the app (no replicas; URL, data and identity kept)", [], {
        resourceGroup: app.desired.resourceGroup as string,
        containerAppName: app.desired.name as string,
        running: false,
      }),
      verb: "ensure",
    },
  ];
}

/** Restore what retire did, exactly: the assignment back, the app running (same app, same URL). */
export function restoreSteps(plan: SlugPlan): WalkStep[] {
  const assignment = nodeOf(plan, SLUG_ASSIGNMENT);
  const app = nodeOf(plan, "containerApp") as Extract<PlanNode, { kind: "containerApp" }>;
  return [
    {
      ...assignment,
      id: `restore:${SLUG_ASSIGNMENT}`,
      dependsOn: [],
      verb: "ensure",
      title: `Restore: ${assignment.title}`,
    },
    {
      ...planNode("appRunState", "restore:app", "Restore: start the app", [], {
        resourceGroup: app.desired.resourceGroup as string,
        containerAppName: app.desired.name as string,
        running: true,
      }),
      verb: "ensure",
    },
  ];
}
