/** The repair operation: converge only what drifted (orchestrations/repair.ts picks it from a fresh audit). */
import { validateSlug } from "../model/validate";
import { planSlug } from "../model/plan";
import { convergedSpec } from "../operations/slug-spec";
import { ensureSteps, knownOutputs } from "../operations/steps";
import { REPAIR_ORCHESTRATION, type RepairInput } from "../../orchestrations/repair";
import { invalid, type OperationDefinition } from "./pipeline";
import { planContextForSlug } from "./plan-context";

export const repairOperation: OperationDefinition<RepairInput> = {
  kind: "repair",
  orchestration: REPAIR_ORCHESTRATION,
  prepare: async (slug, body, { store, current }) => {
    const problems = validateSlug(slug);
    if (
      body !== undefined &&
      (body === null || typeof body !== "object" || Array.isArray(body) || Object.keys(body).length > 0)
    )
      problems.push({ path: "", message: "repair takes no body (or {})." });
    if (problems.length > 0) return invalid("repair", problems);
    const spec = await convergedSpec(store, slug);
    const plan = planSlug(spec, planContextForSlug(current));
    const applied = await store.getApplied(slug);
    const resourceGroup = plan.nodes.find((node) => node.kind === "resourceGroup")!.desired.name as string;
    return {
      ok: true,
      prepared: {
        input: { spec, resourceGroup, steps: ensureSteps(plan.nodes), knownOutputs: knownOutputs(applied) },
        request: {},
        // Which steps run is known only after the orchestration's audit.
        steps: [],
        slug: { region: spec.region, resourceGroup },
      },
    };
  },
};
