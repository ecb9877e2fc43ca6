/** The gateway's user-assigned identity: pulls the image and reads Key Vault secrets. */
import { convergeAction, getOrUndefined, removeResource } from "../arm";
import { defineKind } from "../define";
import { diffDesired } from "../diff";
import { containedIn } from "./teardown";

export const identityKind = defineKind({
  kind: "identity",
  summary: "The gateway's user-assigned managed identity (image pull, Key Vault references).",
  api: "ARM Microsoft.ManagedIdentity/userAssignedIdentities",
  teardown: (desired, context) => containedIn(desired.resourceGroup, context),
  activities: (deps) => {
    const identities = deps.clients.managedIdentity.userAssignedIdentities;
    return {
      ensure: async ({ nodeId, desired }) => {
        const current = await getOrUndefined(() => identities.get(desired.resourceGroup, desired.name));
        const changed = current ? diffDesired(current, { location: desired.location, tags: desired.tags }) : ["."];
        if (changed.length > 0) deps.beforeWrite(current ? changed : [], Boolean(current));
        const identity =
          changed.length > 0
            ? await identities.createOrUpdate(desired.resourceGroup, desired.name, {
                location: desired.location,
                tags: { ...(current?.tags ?? {}), ...desired.tags },
              })
            : current!;
        return {
          nodeId,
          action: convergeAction(Boolean(current), changed),
          resourceId: identity.id,
          changed: current ? changed : [],
          outputs: {
            resourceId: identity.id ?? null,
            principalId: identity.principalId ?? null,
            clientId: identity.clientId ?? null,
          },
        };
      },
      remove: async ({ nodeId, desired }) =>
        removeResource(
          nodeId,
          deps,
          () => identities.get(desired.resourceGroup, desired.name),
          () => identities.delete(desired.resourceGroup, desired.name),
        ),
    };
  },
});
