/**
 * The read-only half of a drift audit for one slug: every node of the slug's plan (the spec it
 * last converged to) inspected with the kind's own compare (writes refused, so nothing is ever
 * written), the differences noted with their values, and the resources in `claw-<slug>` the plan
 * does not know. Its ARM reads are counted, so the audit can pace itself inside ARM's read budget.
 */
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import type { Outputs } from "../src/contract/reference";
import { resolveReferences } from "../src/contract/reference";
import type { PlanNode } from "../src/contract/resources";
import { planSlug, topologicalOrder, type PlanContext } from "../src/model/plan";
import type { SlugSpec } from "../src/model/spec";
import type { DriftEntry, DriftRecord } from "../src/operations/drift";
import type { AppliedState } from "../src/operations/records";
import { keyVaultUrl } from "../src/azure/endpoints";
import { createActivityDeps, type ActivityDeps } from "./deps";
import { notingDifferences } from "./diff";
import { inspectResource } from "./inspect";
import { getOrUndefined } from "./arm";

/** Nodes whose resources ARM does not list in the group (children, extension resources, Entra, data plane). */
const LISTED_KINDS = new Set([
  "logAnalytics",
  "appInsights",
  "identity",
  "keyVault",
  "storageAccount",
  "managedEnvironment",
  "containerApp",
  "botService",
]);

export interface SlugAuditInput {
  slug: string;
  spec: SlugSpec;
  applied: AppliedState | undefined;
  planContext: PlanContext;
  auditedAt: string;
}

/** Counts the ARM requests of the clients it is given to. */
function readCounter(): { policy: PipelinePolicy; count(): number } {
  let reads = 0;
  return {
    policy: {
      name: "shireDriftReadCounter",
      sendRequest: (request, next) => {
        reads++;
        return next(request);
      },
    },
    count: () => reads,
  };
}

export async function auditSlug(
  input: SlugAuditInput,
  depsFor: (policies: PipelinePolicy[]) => ActivityDeps,
): Promise<DriftRecord> {
  const counter = readCounter();
  const deps = depsFor([counter.policy]);
  const plan = planSlug(input.spec, input.planContext);
  const known: Record<string, Outputs> = Object.fromEntries(
    Object.entries(input.applied?.nodes ?? {}).map(([id, node]) => [id, node.outputs]),
  );
  const entries: DriftEntry[] = [];
  for (const node of topologicalOrder(plan.nodes)) entries.push(await auditNode(node, deps, known, input.slug));
  const extra = await extraResources(deps, plan, input.applied);
  return {
    slug: input.slug,
    auditedAt: input.auditedAt,
    drifted: entries.filter((entry) => entry.state !== "matches"),
    matching: entries.filter((entry) => entry.state === "matches").length,
    extra,
    reads: counter.count(),
  };
}

async function auditNode(
  node: PlanNode,
  deps: ActivityDeps,
  known: Record<string, Outputs>,
  slug: string,
): Promise<DriftEntry> {
  const base = { node: node.id, kind: node.kind };
  let desired: unknown;
  try {
    desired = resolveReferences(node.desired as never, known);
  } catch (error) {
    return { ...base, state: "unknown", error: `not yet applied: ${(error as Error).message}` };
  }
  const { result, differences } = await notingDifferences(() =>
    inspectResource(node.kind, deps, { operationId: "drift-audit", slug, nodeId: node.id, desired: desired as never }),
  );
  if (result.state === "unknown")
    return { ...base, state: "unknown", ...(result.error ? { error: result.error } : {}) };
  if (result.state === "absent") return { ...base, state: "absent" };
  if (node.kind === "secret" && result.state === "matches") return secretWrittenByShire(base, desired as never, deps);
  if (result.state === "matches") return { ...base, state: "matches" };
  // A secret never shows values: only which part differs.
  if (node.kind === "secret") return { ...base, state: "differs", paths: result.changed };
  const noted = new Set(differences.map((difference) => difference.path));
  const unexplained = result.changed.filter((path) => !noted.has(path));
  return { ...base, state: "differs", differences, ...(unexplained.length ? { paths: unexplained } : {}) };
}

/** A secret Shire makes whose current version Shire did not write (someone set it by hand). */
async function secretWrittenByShire(
  base: { node: string; kind: string },
  desired: { vaultName: string; secretName: string; source: { type: string } },
  deps: ActivityDeps,
): Promise<DriftEntry> {
  if (desired.source.type === "external") return { ...base, state: "matches" };
  const client = deps.clients.secrets(keyVaultUrl(deps.context.endpoints, desired.vaultName));
  const properties = await getOrUndefined(async () => (await client.getSecret(desired.secretName)).properties);
  if (properties && properties.tags?.["managed-by"] !== "shire")
    return { ...base, state: "differs", paths: ["a version Shire did not write"] };
  return { ...base, state: "matches" };
}

/** Resources ARM lists in the slug's group that neither the plan nor the applied state names. */
async function extraResources(
  deps: ActivityDeps,
  plan: { nodes: PlanNode[] },
  applied: AppliedState | undefined,
): Promise<DriftRecord["extra"]> {
  const group = plan.nodes.find((node) => node.kind === "resourceGroup")!.desired.name as string;
  const expected = new Set(
    Object.values(applied?.nodes ?? {})
      .filter((node) => LISTED_KINDS.has(node.kind) && node.resourceId)
      .map((node) => node.resourceId!.toLowerCase()),
  );
  const extra: DriftRecord["extra"] = [];
  try {
    for await (const resource of deps.clients.resources.resources.listByResourceGroup(group)) {
      if (resource.id && !expected.has(resource.id.toLowerCase()))
        extra.push({ id: resource.id, type: resource.type ?? "" });
    }
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return extra;
}

/** The deps an audit runs on in the Functions host: the app settings' context, with its read counter. */
export function auditDepsFromEnv(context: Parameters<typeof createActivityDeps>[0]) {
  return (policies: PipelinePolicy[]) => createActivityDeps(context, { armPolicies: policies });
}
