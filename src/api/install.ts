/** The install operation: validate the spec, plan it, and prune what the slug has applied that the plan dropped. */
import { contextProblems, validateInstallRequest, withRecordedBotIdentity } from "../model/validate";
import { planSlug } from "../model/plan";
import { installSteps, knownOutputs } from "../operations/steps";
import { INSTALL_ORCHESTRATION, type InstallInput } from "../../orchestrations/install";
import { invalid, type OperationDefinition } from "./pipeline";
import { planContextFromEnv } from "./plan-context";
import { directoryQuotaFor, directoryQuotaFromEnv, ledgerDirectoryClaims, quotaRefusal } from "./directory-quota";
import { activityDepsFromEnv } from "../../activities/deps";
import { recordedSpec } from "../operations/slug-spec";
import { apiError } from "./responses";
import { choosePlacement, ledgerClaims, placementNeeds, placementSettingsFromEnv, type Placement } from "./placement";
import type { SlugSpec } from "../model/spec";
import type { AppliedState, OperationStore, SlugRecord } from "../operations/records";

/**
 * Where an install of `spec` goes: chosen once from the pool by its quotas, then kept
 * (placement.ts). `reserve`: claim the room chosen (install); the dry run only looks.
 */
export function placeSlug(
  spec: SlugSpec,
  current: SlugRecord | undefined,
  applied: AppliedState | undefined,
  store: OperationStore,
  reserve: boolean,
): Promise<Placement> {
  const brokerSubscription = planContextFromEnv().subscriptionId;
  return choosePlacement({
    slug: spec.slug,
    region: spec.region,
    // A slug recorded before placement existed is in the broker's own subscription.
    recorded: current ? (current.subscriptionId ?? brokerSubscription) : undefined,
    requested: spec.subscriptionId,
    needsFor: (subscriptionId) =>
      placementNeeds(planSlug(spec, planContextFromEnv(process.env, subscriptionId)), subscriptionId, applied),
    settings: placementSettingsFromEnv(brokerSubscription),
    depsFor: activityDepsFromEnv,
    claims: ledgerClaims(store),
    reserve,
  });
}

export const installOperation: OperationDefinition<InstallInput> = {
  kind: "install",
  orchestration: INSTALL_ORCHESTRATION,
  prepare: async (slug, body, { store, current }) => {
    const validation = validateInstallRequest(slug, body);
    if (!validation.ok) return invalid("install", validation.problems);
    // An installed slug's Teams bot keeps its identity (no migration between the two).
    const settled = withRecordedBotIdentity(validation, await recordedSpec(store, slug, current));
    if (!settled.ok) return { ok: false, response: apiError(409, "BotIdentityChange", settled.message) };
    const spec = settled.spec;
    const applied = await store.getApplied(slug);
    const placement = await placeSlug(spec, current, applied, store, true);
    if (!placement.ok) return placement;
    const { subscriptionId } = placement;
    // Everything that can be missing is checked before anything starts.
    const planContext = planContextFromEnv(process.env, subscriptionId);
    const problems = contextProblems(spec, planContext);
    if (problems.length > 0) return invalid("install", problems);
    const plan = planSlug(spec, planContext);
    // Entra's created-objects quota, before anything is written (an install would meet it
    // halfway), with the room this install needs claimed against installs accepted beside it.
    const deps = activityDepsFromEnv(subscriptionId);
    const refused = quotaRefusal(
      slug,
      await directoryQuotaFor(plan, deps, directoryQuotaFromEnv(), {
        claims: ledgerDirectoryClaims(store, deps.brokerPrincipalId),
        slug,
        write: true,
      }),
    );
    if (refused) return { ok: false, response: refused };
    const steps = installSteps(plan, applied);
    const resourceGroup = plan.nodes.find((node) => node.kind === "resourceGroup")!.desired.name as string;
    return {
      ok: true,
      prepared: {
        input: { spec, resourceGroup, steps, knownOutputs: knownOutputs(applied) },
        request: spec,
        steps: steps.map((step) => ({
          id: step.id,
          title: step.title,
          kind: step.kind,
          ...(step.verb === "remove" ? { verb: "remove" as const } : {}),
          status: "pending" as const,
        })),
        slug: { region: spec.region, resourceGroup, subscriptionId },
      },
    };
  },
};
