/**
 * One role assignment with a deterministic GUID name over (scope, role, principal), so re-running
 * is a no-op and never trips `RoleAssignmentExists`; `principalType` is always set so ARM does not
 * look a fresh identity up in a directory that has not caught up yet (PrincipalNotFound).
 */
import { getOrUndefined, removalResult, removeResource } from "../arm";
import { defineKind } from "../define";
import { permanent } from "../errors";
import { roleAssignmentName } from "../../src/model/names";
import { idContainedIn } from "./teardown";

/** The subscription an ARM scope is in (`/subscriptions/{id}/...`). */
function subscriptionOfScope(scope: string): string | undefined {
  return /^\/subscriptions\/([^/]+)/i.exec(scope)?.[1];
}

export const roleAssignmentKind = defineKind({
  kind: "roleAssignment",
  summary:
    "A role assignment with a name derived from (scope, role, principal): Key Vault data roles, AcrPull, Storage Blob Data Contributor.",
  api: "ARM Microsoft.Authorization/roleAssignments",
  // Assignments inside the group go with it; one on a shared registry must be removed on its own.
  teardown: (desired, context) => idContainedIn(desired.scope, context),
  activities: (deps) => {
    const assignments = deps.clients.authorization.roleAssignments;
    return {
      ensure: async ({ nodeId, desired }) => {
        if (!desired.principalId)
          throw permanent("MissingPrincipal", `${nodeId}: no principal id to assign the role to.`);
        // ARM takes a role definition of the scope's own subscription (a shared registry may be in another).
        const roleDefinitionId = `/subscriptions/${subscriptionOfScope(desired.scope) ?? deps.context.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${desired.roleDefinitionGuid}`;
        const name = roleAssignmentName(desired.scope, desired.roleDefinitionGuid, desired.principalId);
        const current = await getOrUndefined(() => assignments.get(desired.scope, name));
        if (current) {
          return {
            nodeId,
            action: "unchanged" as const,
            resourceId: current.id,
            changed: [],
            outputs: { name, resourceId: current.id ?? null },
          };
        }
        deps.beforeWrite([], false);
        try {
          const created = await assignments.create(desired.scope, name, {
            roleDefinitionId,
            principalId: desired.principalId,
            principalType: desired.principalType,
            description: desired.description,
          });
          return {
            nodeId,
            action: "created" as const,
            resourceId: created.id,
            changed: [],
            outputs: { name, resourceId: created.id ?? null },
          };
        } catch (error) {
          // The same grant under another name (made by hand, or by an older naming scheme) is the same end state.
          if ((error as { code?: string }).code === "RoleAssignmentExists") {
            for await (const existing of assignments.listForScope(desired.scope, {
              filter: `principalId eq '${desired.principalId}'`,
            })) {
              if (
                existing.roleDefinitionId?.toLowerCase().endsWith(desired.roleDefinitionGuid.toLowerCase()) &&
                existing.scope?.toLowerCase() === desired.scope.toLowerCase()
              ) {
                return {
                  nodeId,
                  action: "unchanged" as const,
                  resourceId: existing.id,
                  changed: [],
                  outputs: { name: existing.name ?? name, resourceId: existing.id ?? null },
                };
              }
            }
          }
          throw error;
        }
      },
      // Only the assignment Shire named: a grant of the same role made by hand under another name stays.
      remove: async ({ nodeId, desired }) => {
        // No principal recorded: the identity was never made, so neither was its grant.
        if (!desired.principalId) return removalResult(nodeId, undefined);
        const name = roleAssignmentName(desired.scope, desired.roleDefinitionGuid, desired.principalId);
        return removeResource(
          nodeId,
          deps,
          () => assignments.get(desired.scope, name),
          () => assignments.delete(desired.scope, name),
        );
      },
    };
  },
});
