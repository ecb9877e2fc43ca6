/**
 * Log Analytics workspaces (customerId, shared keys) and workspace-based Application Insights.
 * Read-only values (a workspace's customerId, a component's InstrumentationKey, AppId and
 * ConnectionString) are Azure's: a body's values are ignored, never stored. A PUT replaces the
 * settings; what Azure computed stays.
 */
import { randomUUID } from "node:crypto";
import type { ArmEngine } from "../engine";
import { ArmErrors } from "../errors";
import { NAME_RULES, asRecord, newKey } from "./rules";
import { normalizeLocation } from "./resources";

export interface WorkspaceKeys {
  primarySharedKey: string;
  secondarySharedKey: string;
}

const WORKSPACE_READ_ONLY = [
  "customerId",
  "provisioningState",
  "createdDate",
  "modifiedDate",
  "privateLinkScopedResources",
];
const COMPONENT_READ_ONLY = [
  "ApplicationId",
  "AppId",
  "InstrumentationKey",
  "ConnectionString",
  "CreationDate",
  "TenantId",
  "provisioningState",
  "LaMigrationDate",
  "PrivateLinkScopedResources",
  "Name",
];

function without(properties: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const copy = { ...properties };
  for (const key of keys) delete copy[key];
  return copy;
}

export function defineMonitoring(engine: ArmEngine): void {
  engine.define({
    type: "Microsoft.OperationalInsights/workspaces",
    tracked: true,
    // Workspaces_CreateOrUpdate: 200/201/202, long-running, final state via Location.
    lro: { put: { created: 201, updated: 200, headers: "both" } },
    states: { creating: ["Creating", "ProvisioningAccount"], updating: ["Updating"] },
    patch: "merge",
    nameRule: NAME_RULES.workspace,
    put: ({ env, body, name, existing }) => {
      const properties = without(asRecord(body.properties), WORKSPACE_READ_ONLY);
      const retention = properties.retentionInDays === undefined ? 30 : Number(properties.retentionInDays);
      if (!Number.isInteger(retention) || retention < 30 || retention > 730)
        throw ArmErrors.badRequest("InvalidParameter", "retentionInDays must be between 30 and 730.");
      const keys: WorkspaceKeys = (existing?.hidden.keys as WorkspaceKeys) ?? {
        primarySharedKey: newKey(),
        secondarySharedKey: newKey(),
      };
      env.secrets.remember(keys.primarySharedKey);
      env.secrets.remember(keys.secondarySharedKey);
      const customerId = (asRecord(existing?.resource.properties).customerId as string | undefined) ?? randomUUID();
      return {
        resource: {
          id: "",
          name,
          type: "Microsoft.OperationalInsights/workspaces",
          location: normalizeLocation(body.location),
          tags: (body.tags as Record<string, string>) ?? {},
          properties: { sku: { name: "PerGB2018" }, ...properties, retentionInDays: retention, customerId },
        },
        hidden: { keys },
      };
    },
    actions: {
      sharedKeys: ({ resource }) => ({ status: 200, body: resource.hidden.keys }),
      regenerateSharedKey: ({ env, resource }) => {
        const keys = resource.hidden.keys as WorkspaceKeys;
        keys.primarySharedKey = newKey();
        env.secrets.remember(keys.primarySharedKey);
        return { status: 200, body: keys };
      },
    },
  });

  engine.define({
    type: "Microsoft.Insights/components",
    tracked: true,
    // Components_CreateOrUpdate answers 200 (also for a create); Components_UpdateTags is the PATCH.
    createdStatus: 200,
    patch: "tags",
    nameRule: NAME_RULES.component,
    put: ({ store, body, name, existing }) => {
      const properties = without(asRecord(body.properties), COMPONENT_READ_ONLY);
      if (typeof body.kind !== "string") throw ArmErrors.badRequest("InvalidRequestContent", "kind is required.");
      if (!["web", "other"].includes(String(properties.Application_Type)))
        throw ArmErrors.badRequest("InvalidRequestContent", "properties.Application_Type must be 'web' or 'other'.");
      const workspaceId = properties.WorkspaceResourceId;
      if (typeof workspaceId !== "string" || !store.get(workspaceId)) {
        throw ArmErrors.badRequest(
          "BadRequest",
          `Workspace resource '${String(workspaceId)}' was not found: workspace-based Application Insights needs an existing Log Analytics workspace.`,
        );
      }
      const location = normalizeLocation(body.location);
      const before = asRecord(existing?.resource.properties);
      const instrumentationKey = (before.InstrumentationKey as string | undefined) ?? randomUUID();
      const appId = (before.AppId as string | undefined) ?? randomUUID();
      return {
        resource: {
          id: "",
          name,
          type: "microsoft.insights/components",
          location,
          kind: body.kind,
          tags: (body.tags as Record<string, string>) ?? {},
          properties: {
            ...properties,
            IngestionMode: properties.IngestionMode ?? "LogAnalytics",
            InstrumentationKey: instrumentationKey,
            AppId: appId,
            ConnectionString: `InstrumentationKey=${instrumentationKey};IngestionEndpoint=https://${location}-0.in.applicationinsights.azure.com/;LiveEndpoint=https://${location}.livediagnostics.monitor.azure.com/;ApplicationId=${appId}`,
          },
        },
      };
    },
  });
}
