/** Log Analytics workspace: the managed environment's log destination. */
import { activityDepsFromEnv, type ActivityDeps } from "./deps";
import { registerActivity, type ActivityHandler } from "./define";
import { convergeAction, getOrUndefined } from "./arm";
import { diffDesired } from "./diff";
import { assertSettledAfterWrite, provisioningDifference } from "./provisioning";

export const ENSURE_LOG_ANALYTICS = "ensureLogAnalytics";

export interface LogAnalyticsDesired {
  resourceGroup: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  retentionInDays: number;
  sku: string;
}

export function createLogAnalyticsActivities(deps: ActivityDeps) {
  const ensureLogAnalytics: ActivityHandler<LogAnalyticsDesired> = async ({ nodeId, desired }) => {
    const workspaces = deps.clients.operationalInsights.workspaces;
    const current = await getOrUndefined(() => workspaces.get(desired.resourceGroup, desired.name));
    const wanted = {
      location: desired.location,
      tags: desired.tags,
      // The modular SDK flattens ARM's `properties` into the model.
      sku: { name: desired.sku },
      retentionInDays: desired.retentionInDays,
    };
    const changed = current
      ? [
          ...provisioningDifference(`Workspace ${desired.name}`, current.provisioningState),
          ...diffDesired(current, wanted),
        ]
      : ["."];
    if (changed.length > 0) deps.beforeWrite(current ? changed : [], Boolean(current));
    const workspace =
      changed.length > 0
        ? await workspaces.createOrUpdate(desired.resourceGroup, desired.name, {
            ...wanted,
            sku: { name: desired.sku as "PerGB2018" },
            tags: { ...(current?.tags ?? {}), ...desired.tags },
          })
        : current!;
    assertSettledAfterWrite(`Workspace ${desired.name}`, workspace.provisioningState);
    return {
      nodeId,
      action: convergeAction(Boolean(current), changed),
      resourceId: workspace.id,
      changed: current ? changed : [],
      // customerId is the workspace id, not a secret; the shared key never leaves the activities that need it.
      outputs: { resourceId: workspace.id ?? null, customerId: workspace.customerId ?? null },
    };
  };
  return { ensureLogAnalytics };
}

registerActivity(ENSURE_LOG_ANALYTICS, () => createLogAnalyticsActivities(activityDepsFromEnv()).ensureLogAnalytics);
