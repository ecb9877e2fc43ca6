/**
 * An Entra security group keyed by `uniqueName`: `shire-admins` (one per tenant, shared by every
 * slug: never removed) and `shire-<slug>` (the slug's users). A deleted group still holding the
 * name is restored.
 */
import { defineKind } from "../define";
import { permanent } from "../errors";
import { removalResult } from "../arm";
import { createGraphHelpers, escapeOData, type GraphGroup } from "../graph";

export const entraGroupKind = defineKind({
  kind: "entraGroup",
  summary: "Entra security group: `shire-admins` (shared, never removed) or `shire-<slug>`.",
  api: "Microsoft Graph groups",
  teardown: (desired) => (desired.shared ? "keep" : "remove"),
  activities: (deps) => {
    const { find, upsert, deleteObject, findDeleted } = createGraphHelpers(deps);
    return {
      ensure: async ({ nodeId, desired }) => {
        const groupPath = `/groups(uniqueName='${escapeOData(desired.uniqueName)}')`;
        const existing = await find<GraphGroup>(groupPath, "id,displayName,uniqueName");
        if (existing)
          return {
            nodeId,
            action: "unchanged" as const,
            resourceId: existing.id,
            changed: [],
            outputs: { groupId: existing.id },
          };
        deps.beforeWrite([], false);
        const { object: group, created } = await upsert<GraphGroup>(
          "group",
          groupPath,
          "id,displayName,uniqueName",
          {
            displayName: desired.displayName,
            mailEnabled: false,
            mailNickname: desired.mailNickname,
            securityEnabled: true,
            description: desired.description,
          },
          { type: "microsoft.graph.group", uniqueName: desired.uniqueName },
        );
        return {
          nodeId,
          action: created ? ("created" as const) : ("unchanged" as const),
          resourceId: group.id,
          changed: [],
          outputs: { groupId: group.id },
        };
      },
      remove: async ({ nodeId, desired, purge }) => {
        if (desired.shared) {
          throw permanent(
            "SharedGroup",
            `Group ${desired.uniqueName} is shared by every slug: Shire never removes it.`,
            422,
          );
        }
        const lookup = { type: "microsoft.graph.group" as const, uniqueName: desired.uniqueName };
        const group = await find<GraphGroup>(
          `/groups(uniqueName='${escapeOData(desired.uniqueName)}')`,
          "id,displayName,uniqueName",
        );
        const deleted = group || !purge ? undefined : await findDeleted(lookup);
        if (!group && !deleted) return removalResult(nodeId, undefined);
        deps.beforeWrite(["."], true, true);
        await deleteObject(
          group ? `/groups/${group.id}` : `/directory/deletedItems/${deleted!.id}`,
          lookup,
          purge === true && Boolean(group),
        );
        return removalResult(nodeId, group?.id ?? deleted!.id);
      },
    };
  },
});
