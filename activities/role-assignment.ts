/**
 * One role assignment with a deterministic GUID name over (scope, role, principal), so re-running
 * is a no-op and never trips `RoleAssignmentExists`; `principalType` is always set so ARM does not
 * look a fresh identity up in a directory that has not caught up yet (PrincipalNotFound).
 */
import { activityDepsFromEnv, type ActivityDeps } from "./deps";
import { registerActivity, type ActivityHandler } from "./define";
import { getOrUndefined } from "./arm";
import { permanent } from "./errors";
import { roleAssignmentName } from "../src/model/names";

export const ENSURE_ROLE_ASSIGNMENT = "ensureRoleAssignment";

export interface RoleAssignmentDesired {
  /** ARM id of the scope (vault, registry, resource group...). */
  scope: string;
  /** Built-in role definition GUID (azure-facts §B). */
  roleDefinitionGuid: string;
  principalId: string;
  principalType: "ServicePrincipal" | "Group" | "User";
  description?: string;
}

export function createRoleAssignmentActivities(deps: ActivityDeps) {
  const ensureRoleAssignment: ActivityHandler<RoleAssignmentDesired> = async ({ nodeId, desired }) => {
    if (!desired.principalId) throw permanent("MissingPrincipal", `${nodeId}: no principal id to assign the role to.`);
    const assignments = deps.clients.authorization.roleAssignments;
    const roleDefinitionId = `/subscriptions/${deps.context.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${desired.roleDefinitionGuid}`;
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
  };
  return { ensureRoleAssignment };
}

registerActivity(
  ENSURE_ROLE_ASSIGNMENT,
  () => createRoleAssignmentActivities(activityDepsFromEnv()).ensureRoleAssignment,
);
