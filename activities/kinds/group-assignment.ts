/** A group assigned to the sign-in app (default role): `shire-admins` and `shire-<slug>`. */
import type { Client as GraphClient } from "@microsoft/microsoft-graph-client";
import { defineKind } from "../define";
import { transient } from "../errors";
import { isNotFound, removalResult } from "../arm";
import { createGraphHelpers, DEFAULT_APP_ROLE_ID, isAlreadyExists } from "../graph";

export const groupAssignmentKind = defineKind({
  kind: "groupAssignment",
  summary: "A group assigned to the sign-in app (who may sign in): `shire-admins`, `shire-<slug>`.",
  api: "Microsoft Graph servicePrincipals/appRoleAssignedTo",
  // Gone with the app's service principal.
  teardown: () => "cascade",
  activities: (deps) => {
    const { withReplicationRetry, listAssignments } = createGraphHelpers(deps);
    const findAssignment = async (servicePrincipalId: string, principalId: string) =>
      (await listAssignments(servicePrincipalId)).find(
        (assignment) => assignment.principalId?.toLowerCase() === principalId.toLowerCase(),
      );
    return {
      ensure: async ({ nodeId, desired }) => {
        const existing = await findAssignment(desired.servicePrincipalId, desired.principalId);
        if (existing)
          return {
            nodeId,
            action: "unchanged",
            resourceId: existing.id,
            changed: [],
            outputs: { assignmentId: existing.id },
          };
        deps.beforeWrite([], false);
        const assign = (graph: GraphClient) =>
          graph.api(`/servicePrincipals/${desired.servicePrincipalId}/appRoleAssignedTo`).post({
            principalId: desired.principalId,
            resourceId: desired.servicePrincipalId,
            appRoleId: DEFAULT_APP_ROLE_ID,
          }) as Promise<{ id: string }>;
        try {
          const created = await withReplicationRetry("assign to the app", assign);
          return {
            nodeId,
            action: "created",
            resourceId: created.id,
            changed: [],
            outputs: { assignmentId: created.id },
          };
        } catch (error) {
          // "Permission being assigned already exists on the object": made by a run whose answer was lost.
          if (!isAlreadyExists(error)) throw error;
          const found = await findAssignment(desired.servicePrincipalId, desired.principalId);
          if (!found)
            throw transient("GraphReplicationDelay", `${nodeId}: the assignment exists but is not visible yet.`);
          return {
            nodeId,
            action: "unchanged",
            resourceId: found.id,
            changed: [],
            outputs: { assignmentId: found.id },
          };
        }
      },
      remove: async ({ nodeId, desired }) => {
        // No service principal or group recorded: neither was made, so no assignment either.
        if (!desired.servicePrincipalId || !desired.principalId) return removalResult(nodeId, undefined);
        let existing;
        try {
          existing = await findAssignment(desired.servicePrincipalId, desired.principalId);
        } catch (error) {
          // The app's service principal is gone, and its assignments with it.
          if ((error as { code?: string }).code === "GraphReplicationDelay" || isNotFound(error))
            return removalResult(nodeId, undefined);
          throw error;
        }
        if (!existing) return removalResult(nodeId, undefined);
        deps.beforeWrite(["."], true, true);
        try {
          await deps
            .graph()
            .api(`/servicePrincipals/${desired.servicePrincipalId}/appRoleAssignedTo/${existing.id}`)
            .delete();
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
        return removalResult(nodeId, existing.id);
      },
    };
  },
});
