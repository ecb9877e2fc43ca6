/** Log Analytics workspace: the managed environment's log destination. */
import { convergeAction, getOrUndefined, removeResource } from "../arm";
import { defineKind } from "../define";
import { diffDesired } from "../diff";
import { assertSettledAfterWrite, provisioningDifference } from "../provisioning";
import { containedIn } from "./teardown";

export const logAnalyticsKind = defineKind({
  kind: "logAnalytics",
  summary: "Log Analytics workspace: the managed environment's log destination.",
  api: "ARM Microsoft.OperationalInsights/workspaces",
  teardown: (desired, context) => containedIn(desired.resourceGroup, context),
  activities: (deps) => {
    const workspaces = deps.clients.operationalInsights.workspaces;
    return {
      ensure: async ({ nodeId, desired }) => {
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
            ? await workspaces.createOrUpdate(
                desired.resourceGroup,
                desired.name,
                {
                  ...wanted,
                  sku: { name: desired.sku as "PerGB2018" },
                  tags: { ...(current?.tags ?? {}), ...desired.tags },
                },
                deps.clients.operationPolling,
              )
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
      },
      // Without force a deleted workspace stays recoverable for 14 days (a re-install recovers it).
      remove: async ({ nodeId, desired, purge }) =>
        removeResource(
          nodeId,
          deps,
          () => workspaces.get(desired.resourceGroup, desired.name),
          () =>
            workspaces.beginDeleteAndWait(desired.resourceGroup, desired.name, {
              ...deps.clients.operationPolling,
              force: purge === true,
            }),
        ),
    };
  },
});
