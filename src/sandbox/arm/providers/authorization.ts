/**
 * Microsoft.Authorization/roleAssignments at any scope. Names are GUIDs, unique in the tenant (the
 * same name at another scope is an update of scope, which is refused); principal ids are GUIDs;
 * role definition ids are full ids in the scope's subscription; the same (scope, role, principal)
 * under another name is `RoleAssignmentExists`; without `principalType` ARM looks the principal
 * up in Entra and fails with `PrincipalNotFound` while replication has not caught up. Listing at a
 * scope includes what is inherited from above it.
 */
import type { ArmEngine } from "../engine";
import { subscriptionOf, type SandboxEnvironment } from "../../service";
import { ArmErrors } from "../errors";
import type { ArmResource, ArmStore } from "../store";
import { NAME_RULES, asRecord, isGuid } from "./rules";

/**
 * Built-in roles Shire uses, as the built-in roles doc defines them: `actions`/`notActions` are
 * what a role allows on the control plane (ARM operations, and the blob service operations that
 * are Actions: service properties, containers), `dataActions` what the data planes check.
 */
const KEY_VAULT_ROLE_ACTIONS = [
  "Microsoft.Authorization/*/read",
  "Microsoft.Insights/alertRules/*",
  "Microsoft.Resources/deployments/*",
  "Microsoft.Resources/subscriptions/resourceGroups/read",
  "Microsoft.Support/*",
  "Microsoft.KeyVault/checkNameAvailability/read",
  "Microsoft.KeyVault/deletedVaults/read",
  "Microsoft.KeyVault/locations/*/read",
  "Microsoft.KeyVault/vaults/*/read",
  "Microsoft.KeyVault/operations/read",
];
export const BUILT_IN_ROLES: Record<
  string,
  { name: string; actions?: string[]; notActions?: string[]; dataActions: string[]; notDataActions?: string[] }
> = {
  "4633458b-17de-408a-b874-0445c86b69e6": {
    name: "Key Vault Secrets User",
    actions: [],
    dataActions: [
      "Microsoft.KeyVault/vaults/secrets/getSecret/action",
      "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    ],
  },
  "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": {
    name: "Key Vault Secrets Officer",
    actions: KEY_VAULT_ROLE_ACTIONS,
    dataActions: ["Microsoft.KeyVault/vaults/secrets/*"],
  },
  "00482a5a-887f-4fb3-b363-3b7fe8e74483": {
    name: "Key Vault Administrator",
    actions: KEY_VAULT_ROLE_ACTIONS,
    dataActions: ["Microsoft.KeyVault/vaults/*"],
  },
  "7f951dda-4ed3-4680-a7ca-43fe172d538d": {
    name: "AcrPull",
    actions: ["Microsoft.ContainerRegistry/registries/pull/read"],
    dataActions: [],
  },
  "0c867c2a-1d8c-454a-a3db-ab2ea1bdc8bb": {
    name: "Storage File Data SMB Share Contributor",
    actions: [],
    dataActions: ["Microsoft.Storage/storageAccounts/fileServices/fileshares/files/*"],
  },
  "ba92f5b4-2d11-453d-a403-e96b0029c9fe": {
    name: "Storage Blob Data Contributor",
    actions: [
      "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
      "Microsoft.Storage/storageAccounts/blobServices/containers/read",
      "Microsoft.Storage/storageAccounts/blobServices/containers/write",
      "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
    ],
    dataActions: [
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
    ],
  },
  "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": {
    name: "Storage Blob Data Owner",
    actions: [
      "Microsoft.Storage/storageAccounts/blobServices/containers/*",
      "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
    ],
    dataActions: ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"],
  },
  "b24988ac-6180-42a0-ab88-20f7382dd24c": {
    name: "Contributor",
    actions: ["*"],
    notActions: [
      "Microsoft.Authorization/*/Delete",
      "Microsoft.Authorization/*/Write",
      "Microsoft.Authorization/elevateAccess/Action",
      "Microsoft.Blueprint/blueprintAssignments/write",
      "Microsoft.Blueprint/blueprintAssignments/delete",
      "Microsoft.Compute/galleries/share/action",
      "Microsoft.Purview/consents/write",
      "Microsoft.Purview/consents/delete",
    ],
    dataActions: [],
  },
  "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": { name: "Owner", actions: ["*"], dataActions: [] },
  "acdd72a7-3385-48ef-bd42-f606fba81ae7": { name: "Reader", actions: ["*/read"], dataActions: [] },
  "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": {
    name: "User Access Administrator",
    actions: ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
    dataActions: [],
  },
  "f58310d9-a9f6-439a-9e8d-f62e7b41a168": {
    name: "Role Based Access Control Administrator",
    actions: [
      "Microsoft.Authorization/roleAssignments/write",
      "Microsoft.Authorization/roleAssignments/delete",
      "*/read",
      "Microsoft.Support/*",
    ],
    dataActions: [],
  },
  "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd": {
    name: "Cognitive Services OpenAI User",
    actions: [
      "Microsoft.CognitiveServices/*/read",
      "Microsoft.Authorization/roleAssignments/read",
      "Microsoft.Authorization/roleDefinitions/read",
    ],
    dataActions: ["Microsoft.CognitiveServices/accounts/OpenAI/*"],
  },
};

export function roleGuid(roleDefinitionId: string): string {
  return roleDefinitionId.split("/").at(-1)!.toLowerCase();
}

/** `/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{guid}` or the tenant form `/providers/...`; returns the subscription ('' for the tenant form). */
function parseRoleDefinitionId(value: string): { subscription: string; guid: string } | undefined {
  const match = /^(?:\/subscriptions\/([^/]+))?\/providers\/Microsoft\.Authorization\/roleDefinitions\/([^/]+)$/i.exec(
    value,
  );
  return match && isGuid(match[2]) ? { subscription: match[1] ?? "", guid: match[2].toLowerCase() } : undefined;
}

const within = (child: string, parent: string) => child === parent || child.startsWith(`${parent}/`);

/** Azure's limit of role assignments per subscription (all scopes in it). */
export const ROLE_ASSIGNMENTS_PER_SUBSCRIPTION = 4_000;

/** A subscription holds at most its quota of role assignments; the next is refused as Azure refuses it. */
function checkRoleAssignmentQuota(env: SandboxEnvironment, store: ArmStore, id: string): void {
  const limit = env.faults.roleAssignmentsPerSubscription ?? ROLE_ASSIGNMENTS_PER_SUBSCRIPTION;
  const subscription = subscriptionOf(id);
  const used = store
    .listByType("Microsoft.Authorization/roleAssignments")
    .filter((stored) => subscriptionOf(stored.resource.id) === subscription).length;
  if (used >= limit)
    throw ArmErrors.badRequest(
      "RoleAssignmentLimitExceeded",
      `No more role assignments can be created in subscription '${subscription}': it has ${used} of ${limit}.`,
    );
}

export function defineAuthorization(engine: ArmEngine): void {
  engine.define({
    type: "Microsoft.Authorization/roleAssignments",
    nameRule: NAME_RULES.roleAssignment,
    deleteReturnsResource: true,
    put: ({ env, store, body, id, name, existing }) => {
      const properties = asRecord(body.properties);
      const roleDefinitionId = properties.roleDefinitionId;
      const principalId = properties.principalId;
      if (typeof roleDefinitionId !== "string" || typeof principalId !== "string") {
        throw ArmErrors.invalidContent(
          "The request content was invalid: properties.roleDefinitionId and properties.principalId are required.",
        );
      }
      if (!isGuid(principalId))
        throw ArmErrors.badRequest(
          "InvalidPrincipalId",
          `The Principal ID '${principalId}' is not valid. Principal ID must be a GUID.`,
        );
      const scope = id.slice(0, id.toLowerCase().lastIndexOf("/providers/microsoft.authorization/"));
      const definition = parseRoleDefinitionId(roleDefinitionId);
      // ARM takes the definition's full id and does not complete a bare GUID or move it between subscriptions.
      if (!definition)
        throw ArmErrors.badRequest(
          "InvalidRoleDefinitionId",
          `The role definition ID '${roleDefinitionId}' is not valid.`,
        );
      if (definition.subscription && definition.subscription.toLowerCase() !== subscriptionOf(id)) {
        throw ArmErrors.badRequest(
          "InvalidRoleDefinitionId",
          `The role definition ID '${roleDefinitionId}' is not valid: its subscription '${definition.subscription}' is not the subscription of the scope '${scope}'.`,
        );
      }
      if (!BUILT_IN_ROLES[definition.guid])
        throw ArmErrors.badRequest(
          "RoleDefinitionDoesNotExist",
          `The specified role definition with ID '${definition.guid}' does not exist.`,
        );
      if (scope.split("/").length > 3 && !store.get(scope)) throw ArmErrors.parentNotFound(scope);
      const sameName = store
        .listByType("Microsoft.Authorization/roleAssignments")
        .find(
          (stored) =>
            stored.resource.name.toLowerCase() === name.toLowerCase() &&
            stored.resource.id.toLowerCase() !== id.toLowerCase(),
        );
      const updateNotPermitted = () =>
        ArmErrors.badRequest(
          "RoleAssignmentUpdateNotPermitted",
          "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
        );
      // Role assignment names are unique in the tenant: the same name elsewhere would move the assignment.
      if (sameName) throw updateNotPermitted();
      if (existing) {
        const before = existing.resource.properties as { roleDefinitionId: string; principalId: string };
        if (
          roleGuid(before.roleDefinitionId) !== definition.guid ||
          before.principalId.toLowerCase() !== principalId.toLowerCase()
        )
          throw updateNotPermitted();
      } else {
        const duplicate = store.listByType("Microsoft.Authorization/roleAssignments").find((stored) => {
          const other = stored.resource.properties as { scope: string; roleDefinitionId: string; principalId: string };
          return (
            other.scope.toLowerCase() === scope.toLowerCase() &&
            roleGuid(other.roleDefinitionId) === definition.guid &&
            other.principalId.toLowerCase() === principalId.toLowerCase()
          );
        });
        if (duplicate)
          throw ArmErrors.conflict(
            "RoleAssignmentExists",
            `The role assignment already exists. The ID of the existing role assignment is ${duplicate.resource.name}.`,
          );
        checkRoleAssignmentQuota(env, store, id);
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
            roleDefinitionId,
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
    list: ({ request, scope, items }) =>
      filterAssignments(
        items.map((stored) => stored.resource),
        scope,
        request.query.get("$filter"),
      ),
  });
}

/**
 * RoleAssignments_ListForScope: without `atScope()`, assignments at, above and below the scope;
 * with it, at and above (what applies there). `principalId eq '{id}'` and `assignedTo('{id}')`
 * narrow to a principal (group membership is not modelled, so assignedTo matches the id itself).
 */
function filterAssignments(items: ArmResource[], requestedScope: string, filter: string | null): ArmResource[] {
  const scope = requestedScope.toLowerCase();
  let atScope = false;
  let principal: string | undefined;
  for (const clause of (filter ?? "")
    .split(/\s+and\s+/i)
    .map((part) => part.trim())
    .filter(Boolean)) {
    const byPrincipal = /^principalId\s+eq\s+'([^']+)'$/i.exec(clause) ?? /^assignedTo\('([^']+)'\)$/i.exec(clause);
    if (/^atScope\(\)$/i.test(clause)) atScope = true;
    else if (byPrincipal) principal = byPrincipal[1].toLowerCase();
    else
      throw ArmErrors.badRequest(
        "UnsupportedQuery",
        `The filter '${filter}' is not supported. Supported filters are 'atScope()', 'principalId eq {id}', 'assignedTo({id})' and their combination with 'and'.`,
      );
  }
  return items.filter((item) => {
    const properties = item.properties as { scope: string; principalId: string };
    const at = properties.scope.toLowerCase();
    const applies = within(scope, at) || (!atScope && within(at, scope));
    return applies && (!principal || properties.principalId.toLowerCase() === principal);
  });
}
