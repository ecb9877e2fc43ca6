/**
 * Microsoft.Authorization/roleAssignments at any scope. Names are GUIDs; the same
 * (scope, role, principal) under another name is `RoleAssignmentExists`; without
 * `principalType` ARM looks the principal up in Entra and fails with `PrincipalNotFound` while
 * replication has not caught up.
 */
import type { ArmEngine } from "../engine";
import { ArmErrors } from "../errors";
import { NAME_RULES, asRecord } from "./rules";

/** Built-in roles Shire uses, with the data actions the data planes check. */
export const BUILT_IN_ROLES: Record<string, { name: string; dataActions: string[] }> = {
  "4633458b-17de-408a-b874-0445c86b69e6": { name: "Key Vault Secrets User", dataActions: ["Microsoft.KeyVault/vaults/secrets/getSecret/action", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"] },
  "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": { name: "Key Vault Secrets Officer", dataActions: ["Microsoft.KeyVault/vaults/secrets/*"] },
  "00482a5a-887f-4fb3-b363-3b7fe8e74483": { name: "Key Vault Administrator", dataActions: ["Microsoft.KeyVault/vaults/*"] },
  "7f951dda-4ed3-4680-a7ca-43fe172d538d": { name: "AcrPull", dataActions: [] },
  "0c867c2a-1d8c-454a-a3db-ab2ea1bdc8bb": { name: "Storage File Data SMB Share Contributor", dataActions: ["Microsoft.Storage/storageAccounts/fileServices/fileshares/files/*"] },
  "ba92f5b4-2d11-453d-a403-e96b0029c9fe": { name: "Storage Blob Data Contributor", dataActions: ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"] },
  "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": { name: "Storage Blob Data Owner", dataActions: ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"] },
  "b24988ac-6180-42a0-ab88-20f7382dd24c": { name: "Contributor", dataActions: [] },
  "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": { name: "Owner", dataActions: [] },
  "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": { name: "User Access Administrator", dataActions: [] },
  "f58310d9-a9f6-439a-9e8d-f62e7b41a168": { name: "Role Based Access Control Administrator", dataActions: [] },
  "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd": { name: "Cognitive Services OpenAI User", dataActions: ["Microsoft.CognitiveServices/accounts/OpenAI/*"] },
};

export function roleGuid(roleDefinitionId: string): string {
  return roleDefinitionId.split("/").at(-1)!.toLowerCase();
}

/** Does the role grant a data action matching `action` (with `*` wildcards)? */
export function roleGrants(roleDefinitionId: string, action: string): boolean {
  const role = BUILT_IN_ROLES[roleGuid(roleDefinitionId)];
  if (!role) return false;
  return role.dataActions.some((granted) => new RegExp(`^${granted.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`, "i").test(action));
}

export function defineAuthorization(engine: ArmEngine): void {
  engine.define({
    type: "Microsoft.Authorization/roleAssignments",
    nameRule: NAME_RULES.roleAssignment,
    put: ({ env, store, body, id, name, existing }) => {
      const properties = asRecord(body.properties);
      const roleDefinitionId = properties.roleDefinitionId;
      const principalId = properties.principalId;
      if (typeof roleDefinitionId !== "string" || typeof principalId !== "string") {
        throw ArmErrors.invalidContent("The request content was invalid: properties.roleDefinitionId and properties.principalId are required.");
      }
      if (!BUILT_IN_ROLES[roleGuid(roleDefinitionId)]) throw ArmErrors.badRequest("RoleDefinitionDoesNotExist", `The specified role definition with ID '${roleGuid(roleDefinitionId)}' does not exist.`);
      const scope = id.slice(0, id.toLowerCase().lastIndexOf("/providers/microsoft.authorization/"));
      if (scope.split("/").length > 3 && !store.get(scope)) throw ArmErrors.parentNotFound(scope);
      if (existing) {
        const before = existing.resource.properties as { roleDefinitionId: string; principalId: string };
        if (roleGuid(before.roleDefinitionId) !== roleGuid(roleDefinitionId) || before.principalId.toLowerCase() !== principalId.toLowerCase()) {
          throw ArmErrors.conflict("RoleAssignmentUpdateNotPermitted", "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.");
        }
      } else {
        const duplicate = store
          .listByType("Microsoft.Authorization/roleAssignments")
          .find((stored) => {
            const other = stored.resource.properties as { scope: string; roleDefinitionId: string; principalId: string };
            return other.scope.toLowerCase() === scope.toLowerCase() && roleGuid(other.roleDefinitionId) === roleGuid(roleDefinitionId) && other.principalId.toLowerCase() === principalId.toLowerCase();
          });
        if (duplicate) throw ArmErrors.conflict("RoleAssignmentExists", `The role assignment already exists. The ID of the existing role assignment is ${duplicate.resource.name}.`);
      }
      if (!properties.principalType && env.faults.principalNotFoundWithoutType && !env.directory.lookup(principalId)) {
        throw ArmErrors.badRequest(
          "PrincipalNotFound",
          `Principal ${principalId.replace(/-/g, "")} does not exist in the directory ${env.tenantId}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype`,
        );
      }
      const now = new Date(env.clock.now()).toISOString();
      return {
        resource: {
          id: "",
          name,
          type: "Microsoft.Authorization/roleAssignments",
          properties: {
            roleDefinitionId: `/subscriptions/${env.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${roleGuid(roleDefinitionId)}`,
            principalId,
            principalType: properties.principalType ?? env.directory.get(principalId)?.kind ?? "User",
            scope,
            description: properties.description ?? null,
            createdOn: existing ? (existing.resource.properties as { createdOn: string }).createdOn : now,
            updatedOn: now,
          },
        },
      };
    },
  });
}
