/** The gateway's user-assigned identity: pulls the image and reads Key Vault secrets. */
import { activityDepsFromEnv, type ActivityDeps } from "./deps";
import { registerActivity, type ActivityHandler } from "./define";
import { convergeAction, getOrUndefined } from "./arm";
import { diffDesired } from "./diff";

export const ENSURE_IDENTITY = "ensureIdentity";

export interface IdentityDesired {
  resourceGroup: string;
  name: string;
  location: string;
  tags: Record<string, string>;
}

export function createIdentityActivities(deps: ActivityDeps) {
  const ensureIdentity: ActivityHandler<IdentityDesired> = async ({ nodeId, desired }) => {
    const identities = deps.clients.managedIdentity.userAssignedIdentities;
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
  };
  return { ensureIdentity };
}

registerActivity(ENSURE_IDENTITY, () => createIdentityActivities(activityDepsFromEnv()).ensureIdentity);
