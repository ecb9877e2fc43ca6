/**
 * The Container Apps managed environment (logs to the slug's workspace) and the Azure Files share
 * registered on it. Shared keys are read here, inside the activity, and go straight into the
 * request: they never travel through orchestration history.
 */
import { activityDepsFromEnv, type ActivityDeps } from "./deps";
import { registerActivity, type ActivityHandler } from "./define";
import { convergeAction, getOrUndefined } from "./arm";
import { diffDesired } from "./diff";
import { assertSettledAfterWrite, provisioningDifference } from "./provisioning";
import { permanent } from "./errors";

export const ENSURE_MANAGED_ENVIRONMENT = "ensureManagedEnvironment";
export const ENSURE_ENVIRONMENT_STORAGE = "ensureEnvironmentStorage";

export interface ManagedEnvironmentDesired {
  resourceGroup: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  workspaceResourceGroup: string;
  workspaceName: string;
  /** Resolved from the workspace step's outputs. */
  workspaceCustomerId: string;
}

export interface EnvironmentStorageDesired {
  resourceGroup: string;
  environmentName: string;
  name: string;
  storageAccountName: string;
  shareName: string;
  accessMode: "ReadWrite" | "ReadOnly";
}

export function createManagedEnvironmentActivities(deps: ActivityDeps) {
  const ensureManagedEnvironment: ActivityHandler<ManagedEnvironmentDesired> = async ({ nodeId, desired }, secrets) => {
    const environments = deps.clients.containerApps.managedEnvironments;
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
      environment = await environments.beginCreateOrUpdateAndWait(desired.resourceGroup, desired.name, {
        ...(current ?? {}),
        location: desired.location,
        tags: { ...(current?.tags ?? {}), ...desired.tags },
        appLogsConfiguration: {
          destination: "log-analytics",
          logAnalyticsConfiguration: { customerId: desired.workspaceCustomerId, sharedKey },
        },
      });
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
  };

  const ensureEnvironmentStorage: ActivityHandler<EnvironmentStorageDesired> = async ({ nodeId, desired }, secrets) => {
    const storages = deps.clients.containerApps.managedEnvironmentsStorages;
    const current = await getOrUndefined(() =>
      storages.get(desired.resourceGroup, desired.environmentName, desired.name),
    );
    // ARM never returns the account key, so only the visible settings can be compared; key rotation
    // rewrites this resource explicitly.
    const wanted = {
      properties: {
        azureFile: {
          accountName: desired.storageAccountName,
          shareName: desired.shareName,
          accessMode: desired.accessMode,
        },
      },
    };
    const changed = current ? diffDesired(current, wanted) : ["."];
    let storage = current;
    if (changed.length > 0) {
      deps.beforeWrite(current ? changed : [], Boolean(current));
      const keys = await deps.clients.storage.storageAccounts.listKeys(
        desired.resourceGroup,
        desired.storageAccountName,
      );
      const accountKey = secrets.add(keys.keys?.find((key) => key.keyName === "key1")?.value);
      if (!accountKey)
        throw permanent("StorageKeyUnavailable", `Storage account ${desired.storageAccountName} returned no key1.`);
      storage = await storages.createOrUpdate(desired.resourceGroup, desired.environmentName, desired.name, {
        properties: { azureFile: { ...wanted.properties.azureFile, accountKey } },
      });
    }
    return {
      nodeId,
      action: convergeAction(Boolean(current), changed),
      resourceId: storage?.id,
      changed: current ? changed : [],
      outputs: { resourceId: storage?.id ?? null, name: desired.name },
    };
  };

  return { ensureManagedEnvironment, ensureEnvironmentStorage };
}

registerActivity(
  ENSURE_MANAGED_ENVIRONMENT,
  () => createManagedEnvironmentActivities(activityDepsFromEnv()).ensureManagedEnvironment,
);
registerActivity(
  ENSURE_ENVIRONMENT_STORAGE,
  () => createManagedEnvironmentActivities(activityDepsFromEnv()).ensureEnvironmentStorage,
);
