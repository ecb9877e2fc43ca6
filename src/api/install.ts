/** The install operation: validate the spec, plan it, and prune what the slug has applied that the plan dropped. */
import { contextProblems, validateInstallRequest, withRecordedBotIdentity } from "../model/validate";
import { planSlug } from "../model/plan";
import { installSteps, knownOutputs } from "../operations/steps";
import { INSTALL_ORCHESTRATION, type InstallInput } from "../../orchestrations/install";
import { invalid, type OperationDefinition } from "./pipeline";
import { planContextFromEnv } from "./plan-context";
import { directoryQuotaFor, directoryQuotaFromEnv, quotaRefusal } from "./directory-quota";
import { activityDepsFromEnv } from "../../activities/deps";
import { recordedSpec } from "../operations/slug-spec";
import { apiError } from "./responses";

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
    // Everything that can be missing is checked before anything starts.
    const planContext = planContextFromEnv();
    const problems = contextProblems(spec, planContext);
    if (problems.length > 0) return invalid("install", problems);
    const plan = planSlug(spec, planContext);
    // Entra's created-objects quota, before anything is written (an install would meet it halfway).
    const refused = quotaRefusal(slug, await directoryQuotaFor(plan, activityDepsFromEnv(), directoryQuotaFromEnv()));
    if (refused) return { ok: false, response: refused };
    const applied = await store.getApplied(slug);
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
        slug: { region: spec.region, resourceGroup },
      },
    };
  },
};
