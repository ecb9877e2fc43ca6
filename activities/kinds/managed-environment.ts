/**
 * The Container Apps managed environment, logging to the slug's workspace. The workspace's shared
 * key is read here, inside the activity, and goes straight into the request: it never travels
 * through orchestration history.
 */
import { convergeAction, getOrUndefined, removeResource } from "../arm";
import { defineKind } from "../define";
import { diffDesired } from "../diff";
import { assertSettledAfterWrite, provisioningDifference } from "../provisioning";
import { permanent } from "../errors";
import { containedIn } from "./teardown";

export const managedEnvironmentKind = defineKind({
  kind: "managedEnvironment",
  summary: "Container Apps managed environment (logs to the slug's workspace).",
  api: "ARM Microsoft.App/managedEnvironments",
  teardown: (desired, context) => containedIn(desired.resourceGroup, context),
  activities: (deps) => {
    const environments = deps.clients.containerApps.managedEnvironments;
    return {
      ensure: async ({ nodeId, desired }, secrets) => {
        const current = await getOrUndefined(() => environments.get(desired.resourceGroup, desired.name));
        const wanted = {
          location: desired.location,
          tags: desired.tags,
          appLogsConfiguration: {
            destination: "log-analytics",
            logAnalyticsConfiguration: { customerId: desired.workspaceCustomerId },
          },
        };
        const changed = current
          ? [
              ...provisioningDifference(`Managed environment ${desired.name}`, current.provisioningState),
              ...diffDesired(current, wanted),
            ]
          : ["."];
        let environment = current;
        if (changed.length > 0) {
          deps.beforeWrite(current ? changed : [], Boolean(current));
          const keys = await deps.clients.operationalInsights.sharedKeys.getSharedKeys(
            desired.workspaceResourceGroup,
            desired.workspaceName,
          );
          const sharedKey = secrets.add(keys.primarySharedKey);
          if (!sharedKey)
            throw permanent("WorkspaceKeyUnavailable", `Workspace ${desired.workspaceName} returned no shared key.`);
          environment = await environments.beginCreateOrUpdateAndWait(
            desired.resourceGroup,
            desired.name,
            {
              ...(current ?? {}),
              location: desired.location,
              tags: { ...(current?.tags ?? {}), ...desired.tags },
              appLogsConfiguration: {
                destination: "log-analytics",
                logAnalyticsConfiguration: { customerId: desired.workspaceCustomerId, sharedKey },
              },
            },
            deps.clients.operationPolling,
          );
        }
        assertSettledAfterWrite(`Managed environment ${desired.name}`, environment?.provisioningState);
        return {
          nodeId,
          action: convergeAction(Boolean(current), changed),
          resourceId: environment?.id,
          changed: current ? changed : [],
          outputs: {
            resourceId: environment?.id ?? null,
            defaultDomain: environment?.defaultDomain ?? null,
            staticIp: environment?.staticIp ?? null,
          },
        };
      },
      // Azure refuses while apps live in it (ManagedEnvironmentHasContainerApps): the app's removal comes first.
      remove: async ({ nodeId, desired }) =>
        removeResource(
          nodeId,
          deps,
          () => environments.get(desired.resourceGroup, desired.name),
          () => environments.beginDeleteAndWait(desired.resourceGroup, desired.name, deps.clients.operationPolling),
        ),
    };
  },
});
