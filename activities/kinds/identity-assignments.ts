/**
 * The users and service principals allowed into the slug one by one (`allowedIdentities`), as one
 * step however many there are (the walker's status stays small). The list is complete: a direct
 * user or service principal assignment on the sign-in app that is not in it is revoked; group
 * assignments are the group-assignment steps' and are never touched here.
 */
import { defineKind } from "../define";
import { permanent } from "../errors";
import { isNotFound, removalResult } from "../arm";
import {
  createGraphHelpers,
  DEFAULT_APP_ROLE_ID,
  isAlreadyExists,
  isReplicationLike,
  type AppRoleAssignment,
} from "../graph";

/** Assignments this kind owns: everything but groups. */
const isIndividual = (assignment: AppRoleAssignment) => assignment.principalType !== "Group";

export const identityAssignmentsKind = defineKind({
  kind: "identityAssignments",
  summary: "The users and service principals in `allowedIdentities`, assigned to the sign-in app (one step for all).",
  api: "Microsoft Graph servicePrincipals/appRoleAssignedTo",
  teardown: () => "cascade",
  activities: (deps) => {
    const { listAssignments } = createGraphHelpers(deps);
    const graph = () => deps.graph();
    const revoke = async (servicePrincipalId: string, assignment: AppRoleAssignment) => {
      try {
        await graph().api(`/servicePrincipals/${servicePrincipalId}/appRoleAssignedTo/${assignment.id}`).delete();
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    };
    return {
      ensure: async ({ nodeId, desired }) => {
        const wanted = new Set(desired.principalIds.map((id) => id.toLowerCase()));
        const current = (await listAssignments(desired.servicePrincipalId)).filter(isIndividual);
        const have = new Set(current.map((assignment) => assignment.principalId.toLowerCase()));
        const missing = [...wanted].filter((id) => !have.has(id));
        const extra = current.filter((assignment) => !wanted.has(assignment.principalId.toLowerCase()));
        if (missing.length === 0 && extra.length === 0)
          return { nodeId, action: "unchanged", changed: [], outputs: { assigned: wanted.size, revoked: 0 } };
        const changed = [
          ...(missing.length ? [`assign ${missing.length}`] : []),
          ...(extra.length ? [`revoke ${extra.length}`] : []),
        ];
        deps.beforeWrite(changed, current.length > 0);
        for (const principalId of missing) {
          try {
            await graph().api(`/servicePrincipals/${desired.servicePrincipalId}/appRoleAssignedTo`).post({
              principalId,
              resourceId: desired.servicePrincipalId,
              appRoleId: DEFAULT_APP_ROLE_ID,
            });
          } catch (error) {
            // Made by a delivery whose answer was lost: the same end state.
            if (isAlreadyExists(error)) continue;
            // Named by the operator, long replicated: "does not exist" is a typo, not a delay.
            if (isReplicationLike(error))
              throw permanent(
                "AllowedIdentityNotFound",
                `Entra has no user or service principal with object id ${principalId}: check allowedIdentities.`,
              );
            throw error;
          }
        }
        for (const assignment of extra) await revoke(desired.servicePrincipalId, assignment);
        return {
          nodeId,
          action: current.length > 0 ? "updated" : "created",
          changed: current.length > 0 ? changed : [],
          outputs: { assigned: wanted.size, revoked: extra.length },
        };
      },
      remove: async ({ nodeId, desired }) => {
        if (!desired.servicePrincipalId) return removalResult(nodeId, undefined);
        let current: AppRoleAssignment[];
        try {
          current = (await listAssignments(desired.servicePrincipalId)).filter(isIndividual);
        } catch (error) {
          if ((error as { code?: string }).code === "GraphReplicationDelay" || isNotFound(error))
            return removalResult(nodeId, undefined);
          throw error;
        }
        if (current.length === 0) return removalResult(nodeId, undefined);
        deps.beforeWrite(["."], true, true);
        for (const assignment of current) await revoke(desired.servicePrincipalId, assignment);
        return removalResult(nodeId, desired.servicePrincipalId);
      },
    };
  },
});
