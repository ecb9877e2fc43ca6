/**
 * Resource group `claw-<slug>`: the slug's whole footprint. Tagged so teardown can refuse
 * anything Shire does not manage; removing it removes everything in it (an LRO ARM runs).
 */
import { convergeAction, getOrUndefined, removeResource } from "../arm";
import { defineKind } from "../define";
import { diffDesired } from "../diff";
import { permanent } from "../errors";
import { provisioningDifference } from "../provisioning";

export const resourceGroupKind = defineKind({
  kind: "resourceGroup",
  summary: "The slug's resource group `claw-<slug>`, tagged `managed-by=shire` and `shire-slug=<slug>`.",
  api: "ARM Microsoft.Resources/resourceGroups",
  teardown: () => "remove",
  activities: (deps) => {
    const groups = deps.clients.resources.resourceGroups;
    return {
      ensure: async ({ nodeId, desired }) => {
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
        return {
          nodeId,
          action: convergeAction(Boolean(current), changed),
          resourceId: result?.id,
          changed: current ? changed : [],
          outputs: { name: desired.name, location: desired.location },
        };
      },
      remove: async ({ nodeId, desired }) => {
        const owner = desired.tags["shire-slug"];
        return removeResource(
          nodeId,
          deps,
          async () => {
            const current = await groups.get(desired.name);
            // The last guard before everything in it goes: only a group Shire made for this slug.
            if (current.tags?.["managed-by"] !== "shire" || (owner && current.tags?.["shire-slug"] !== owner)) {
              throw permanent(
                "NotManagedByShire",
                `Resource group ${desired.name} is not tagged managed-by=shire and shire-slug=${owner}: Shire does not delete it.`,
                422,
              );
            }
            return current;
          },
          () => groups.beginDeleteAndWait(desired.name, deps.clients.operationPolling),
        );
      },
    };
  },
});
