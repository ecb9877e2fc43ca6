/**
 * Resource group `claw-<slug>`: the slug's whole footprint. Tagged so teardown can refuse
 * anything Shire does not manage.
 */
import type { ActivityResult } from "./contract";
import type { ActivityDeps } from "./deps";
import { activityDepsFromEnv } from "./deps";
import { registerActivity, type ActivityHandler } from "./define";
import { diffDesired } from "./diff";
import { getOrUndefined, convergeAction } from "./arm";
import { permanent } from "./errors";
import { provisioningDifference } from "./provisioning";

export const ENSURE_RESOURCE_GROUP = "ensureResourceGroup";

export interface ResourceGroupDesired {
  name: string;
  location: string;
  tags: Record<string, string>;
}

export function createResourceGroupActivities(deps: ActivityDeps) {
  const ensureResourceGroup: ActivityHandler<ResourceGroupDesired> = async ({ nodeId, desired }) => {
    const groups = deps.clients.resources.resourceGroups;
    const current = await getOrUndefined(() => groups.get(desired.name));
    if (current && current.location.replace(/\s+/g, "").toLowerCase() !== desired.location.toLowerCase()) {
      throw permanent(
        "LocationMismatch",
        `Resource group ${desired.name} exists in ${current.location}, not ${desired.location}; a resource group cannot move.`,
      );
    }
    const changed = current
      ? [
          ...provisioningDifference(`Resource group ${desired.name}`, current.properties?.provisioningState),
          ...diffDesired(current, { tags: desired.tags }),
        ]
      : ["."];
    let result = current;
    if (changed.length > 0) {
      deps.beforeWrite(current ? changed : [], Boolean(current));
      // Keep tags someone else added; ours win on conflict.
      const tags = { ...(current?.tags ?? {}), ...desired.tags };
      result = await groups.createOrUpdate(desired.name, { location: desired.location, tags });
    }
    const summary: ActivityResult = {
      nodeId,
      action: convergeAction(Boolean(current), changed),
      resourceId: result?.id,
      changed: current ? changed : [],
      outputs: { name: desired.name, location: desired.location },
    };
    return summary;
  };
  return { ensureResourceGroup };
}

registerActivity(ENSURE_RESOURCE_GROUP, () => createResourceGroupActivities(activityDepsFromEnv()).ensureResourceGroup);
