/**
 * Workspace-based Application Insights (Microsoft.Insights/components@2020-02-02). The dedicated
 * SDK is stale (no WorkspaceResourceId), so this goes through the generic resources client.
 */
import { convergeAction, getOrUndefined, removeResource } from "../arm";
import { defineKind } from "../define";
import { diffDesired } from "../diff";
import { provisioningDifference } from "../provisioning";
import { API_VERSIONS } from "../../src/azure/clients";
import { idContainedIn } from "./teardown";

export const appInsightsKind = defineKind({
  kind: "appInsights",
  summary:
    "Application Insights (workspace-based) on the slug's workspace (the gateway cannot export to it yet: see operations.md).",
  api: "ARM Microsoft.Insights/components (generic resources client)",
  teardown: (desired, context) => idContainedIn(desired.resourceId, context),
  activities: (deps) => {
    const resources = deps.clients.resources.resources;
    const apiVersion = API_VERSIONS.insightsComponents;
    return {
      ensure: async ({ nodeId, desired }) => {
        const current = await getOrUndefined(() => resources.getById(desired.resourceId, apiVersion));
        const properties = {
          Application_Type: "web",
          WorkspaceResourceId: desired.workspaceResourceId,
          IngestionMode: "LogAnalytics",
        };
        const wanted = { location: desired.location, kind: "web", tags: desired.tags, properties };
        const changed = current
          ? [
              ...provisioningDifference(
                `Application Insights ${desired.resourceId.split("/").at(-1)}`,
                (current.properties as { provisioningState?: string } | undefined)?.provisioningState,
              ),
              ...diffDesired(current, wanted),
            ]
          : ["."];
        if (changed.length > 0) deps.beforeWrite(current ? changed : [], Boolean(current));
        const component =
          changed.length > 0
            ? await resources.createOrUpdateById(
                desired.resourceId,
                apiVersion,
                {
                  ...wanted,
                  tags: { ...(current?.tags ?? {}), ...desired.tags },
                },
                deps.clients.operationPolling,
              )
            : current!;
        const componentProperties = (component.properties ?? {}) as { ConnectionString?: string };
        return {
          nodeId,
          action: convergeAction(Boolean(current), changed),
          resourceId: component.id,
          changed: current ? changed : [],
          // The connection string is an ingestion address, not a credential (Azure shows it in browser snippets).
          outputs: { resourceId: component.id ?? null, connectionString: componentProperties.ConnectionString ?? null },
        };
      },
      remove: async ({ nodeId, desired }) =>
        removeResource(
          nodeId,
          deps,
          () => resources.getById(desired.resourceId, apiVersion),
          () => resources.beginDeleteByIdAndWait(desired.resourceId, apiVersion, deps.clients.operationPolling),
        ),
    };
  },
});
