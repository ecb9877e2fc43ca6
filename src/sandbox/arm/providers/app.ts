/**
 * Microsoft.App: managed environments (logs need the workspace's real customerId and current
 * shared key; provisioning walks Waiting -> InitializationInProgress -> InfrastructureSetupInProgress
 * -> InfrastructureSetupComplete; a delete is refused while apps live in it and shows
 * ScheduledForDelete until done), environment storages (the account key must be the account's
 * current key, the share must exist; in use by an app's volume, it cannot be deleted), revisions
 * (restart, activate, deactivate), auth configs. Container apps are in container-app.ts.
 */
import { createHash } from "node:crypto";
import type { ArmEngine } from "../engine";
import { subscriptionOf, type SandboxEnvironment } from "../../service";
import { ArmErrors } from "../errors";
import { NAME_RULES, asRecord } from "./rules";
import { normalizeLocation } from "./resources";
import { storageKeys } from "./storage";
import type { WorkspaceKeys } from "./monitoring";
import { defineContainerApp } from "./container-app";
import { defineReplicas, restartReplicas, startReplicas, stopReplicas } from "./replicas";
import type { ArmStore, StoredResource } from "../store";

/** Properties Container Apps computes for an environment; a body's values are ignored. */
const ENVIRONMENT_READ_ONLY = [
  "provisioningState",
  "defaultDomain",
  "staticIp",
  "deploymentErrors",
  "eventStreamEndpoint",
  "privateLinkDefaultDomain",
];

const appsIn = (store: ArmStore, environment: StoredResource) =>
  store
    .listByType("Microsoft.App/containerApps")
    .filter(
      (app) =>
        String(asRecord(app.resource.properties).environmentId).toLowerCase() === environment.resource.id.toLowerCase(),
    );

/** Azure's default: a subscription may have 15 Container Apps environments per region (a quota request raises it). */
export const ENVIRONMENTS_PER_REGION = 15;

/**
 * Container Apps refuses a subscription's environment beyond its regional quota, as Azure does,
 * with its code and wording ("cannot have more than 15 environments in West Europe").
 */
function checkRegionalEnvironmentQuota(env: SandboxEnvironment, store: ArmStore, id: string, location: string): void {
  const limit = env.faults.environmentsPerRegion ?? ENVIRONMENTS_PER_REGION;
  const subscription = subscriptionOf(id);
  const used = store
    .listByType("Microsoft.App/managedEnvironments")
    .filter(
      (stored) =>
        subscriptionOf(stored.resource.id) === subscription && normalizeLocation(stored.resource.location) === location,
    ).length;
  if (used >= limit)
    throw ArmErrors.badRequest(
      "MaxNumberOfRegionalEnvironmentsInSubExceeded",
      `The subscription '${subscription}' cannot have more than ${limit} environments in ${location}. For more information, visit: https://go.microsoft.com/fwlink/?linkid=2208872`,
    );
}

export function defineContainerApps(engine: ArmEngine): void {
  const store = engine.store;

  engine.define({
    type: "Microsoft.App/managedEnvironments",
    tracked: true,
    // ManagedEnvironments_CreateOrUpdate 200/201, Delete 200/202/204, Update (PATCH) 200/202: all long-running.
    lro: {
      put: { created: 201, updated: 201, headers: "both" },
      patch: { created: 202, updated: 202, headers: "location" },
      delete: { headers: "both", doneStatus: 204 },
    },
    states: {
      creating: ["Waiting", "InitializationInProgress", "InfrastructureSetupInProgress", "InfrastructureSetupComplete"],
      updating: ["InfrastructureSetupInProgress"],
      deleting: "ScheduledForDelete",
    },
    patch: "merge",
    nameRule: NAME_RULES.managedEnvironment,
    // Same wording as Container Apps' other lock conflicts (ContainerAppLockConflict, MaintenanceConfigurationLockConflict).
    lockConflict: (name) =>
      ArmErrors.conflict(
        "ManagedEnvironmentLockConflict",
        `Cannot modify managed environment '${name}' because another operation is in progress. Please retry the operation.`,
      ),
    beforeDelete: ({ resource }) => {
      const apps = appsIn(store, resource);
      if (apps.length > 0)
        throw ArmErrors.conflict(
          "ManagedEnvironmentHasContainerApps",
          `The specified environment ${resource.resource.name} cannot be deleted because it still contains ${apps.length} ContainerApps.`,
        );
    },
    put: ({ env, body, name, id, existing }) => {
      if (!existing) checkRegionalEnvironmentQuota(env, store, id, normalizeLocation(body.location));
      const properties = { ...asRecord(body.properties) };
      for (const key of ENVIRONMENT_READ_ONLY) delete properties[key];
      const logs = properties.appLogsConfiguration as Record<string, unknown> | undefined;
      if (logs?.destination === "log-analytics") {
        const config = asRecord(logs.logAnalyticsConfiguration);
        const workspace = store
          .listByType("Microsoft.OperationalInsights/workspaces")
          .find((stored) => asRecord(stored.resource.properties).customerId === config.customerId);
        if (!workspace)
          throw ArmErrors.badRequest(
            "ManagedEnvironmentInvalidLogAnalyticsWorkspace",
            `No Log Analytics workspace with customer id '${String(config.customerId)}' was found.`,
          );
        const keys = workspace.hidden.keys as WorkspaceKeys;
        if (config.sharedKey !== keys.primarySharedKey && config.sharedKey !== keys.secondarySharedKey) {
          throw ArmErrors.badRequest(
            "ManagedEnvironmentInvalidLogAnalyticsWorkspace",
            "The Log Analytics shared key is not valid for the workspace.",
          );
        }
        // ARM never returns the key.
        properties.appLogsConfiguration = {
          destination: "log-analytics",
          logAnalyticsConfiguration: { customerId: config.customerId },
        };
      } else if (logs && !["azure-monitor", "none", undefined].includes(logs.destination as string)) {
        throw ArmErrors.badRequest(
          "InvalidRequestContent",
          `appLogsConfiguration.destination '${String(logs.destination)}' is not valid.`,
        );
      }
      const hash = createHash("sha256").update(id.toLowerCase()).digest("hex");
      const location = normalizeLocation(body.location);
      return {
        resource: {
          id: "",
          name,
          type: "Microsoft.App/managedEnvironments",
          location,
          tags: (body.tags as Record<string, string>) ?? {},
          properties: {
            ...properties,
            defaultDomain: `${hash.slice(0, 8)}-${hash.slice(8, 16)}.${location}.azurecontainerapps.io`,
            staticIp: `20.${parseInt(hash.slice(0, 2), 16)}.${parseInt(hash.slice(2, 4), 16)}.${parseInt(hash.slice(4, 6), 16)}`,
          },
        },
      };
    },
  });

  engine.define({
    type: "Microsoft.App/managedEnvironments/storages",
    nameRule: NAME_RULES.environmentStorage,
    beforeDelete: ({ resource }) => {
      const environmentId = resource.resource.id.split("/storages/")[0];
      const environment = store.get(environmentId);
      const users = environment
        ? appsIn(store, environment).filter((app) =>
            (
              (asRecord(asRecord(app.resource.properties).template).volumes as Record<string, unknown>[] | undefined) ??
              []
            ).some((volume) => String(volume.storageName).toLowerCase() === resource.resource.name.toLowerCase()),
          )
        : [];
      // The message is Container Apps' (microsoft/azure-container-apps#774); the code is the sandbox's name for it.
      if (users.length > 0)
        throw ArmErrors.conflict(
          "ManagedEnvironmentStorageInUse",
          `Cannot delete Managed environment storage '${resource.resource.name}' because it's still in use.`,
        );
    },
    put: ({ body, name }) => {
      const azureFile = asRecord(asRecord(body.properties).azureFile);
      const account = store.findStorageAccount(String(azureFile.accountName ?? ""));
      if (!account)
        throw ArmErrors.badRequest(
          "ManagedEnvironmentStorageAccountNotFound",
          `Storage account '${String(azureFile.accountName)}' was not found.`,
        );
      const keys = storageKeys(account);
      if (azureFile.accountKey !== keys.key1 && azureFile.accountKey !== keys.key2)
        throw ArmErrors.badRequest(
          "ManagedEnvironmentInvalidStorageAccountKey",
          "The storage account key is not valid for the account.",
        );
      if (!["ReadWrite", "ReadOnly"].includes(String(azureFile.accessMode)))
        throw ArmErrors.badRequest("InvalidRequestContent", "azureFile.accessMode must be ReadWrite or ReadOnly.");
      const share = store.get(`${account.resource.id}/fileServices/default/shares/${String(azureFile.shareName)}`);
      if (!share)
        throw ArmErrors.badRequest(
          "ManagedEnvironmentStorageShareNotFound",
          `File share '${String(azureFile.shareName)}' was not found in account '${account.resource.name}'.`,
        );
      return {
        resource: {
          id: "",
          name,
          type: "Microsoft.App/managedEnvironments/storages",
          properties: {
            azureFile: {
              accountName: azureFile.accountName,
              shareName: azureFile.shareName,
              accessMode: azureFile.accessMode,
            },
          },
        },
        hidden: { accountKey: azureFile.accountKey },
      };
    },
  });

  defineContainerApp(engine);

  engine.define({
    type: "Microsoft.App/containerApps/revisions",
    put: () => {
      throw ArmErrors.methodNotAllowed("PUT", "Microsoft.App/containerApps/revisions");
    },
    actions: {
      // Every replica replaced: the new ones read secrets and mount storage again (replicas.ts).
      restart: ({ env, engine, resource }) => {
        asRecord(resource.resource.properties).lastRestartTime = new Date(env.clock.now()).toISOString();
        restartReplicas(engine, resource);
        return { status: 200 };
      },
      activate: ({ engine, resource }) => {
        Object.assign(asRecord(resource.resource.properties), { active: true, replicas: 1, runningState: "Running" });
        startReplicas(engine, resource);
        return { status: 200 };
      },
      deactivate: ({ resource }) => {
        Object.assign(asRecord(resource.resource.properties), {
          active: false,
          replicas: 0,
          trafficWeight: 0,
          runningState: "Stopped",
        });
        stopReplicas(store, resource);
        return { status: 200 };
      },
    },
  });
  defineReplicas(engine);

  engine.define({
    type: "Microsoft.App/containerApps/authConfigs",
    createdStatus: 200,
    put: ({ body, name }) => {
      if (name !== "current")
        throw ArmErrors.badRequest("InvalidResourceName", "The auth config name must be 'current'.");
      const properties = asRecord(body.properties);
      const action = asRecord(properties.globalValidation).unauthenticatedClientAction;
      if (
        action !== undefined &&
        !["RedirectToLoginPage", "AllowAnonymous", "Return401", "Return403"].includes(String(action))
      ) {
        throw ArmErrors.badRequest(
          "InvalidRequestContent",
          `unauthenticatedClientAction '${String(action)}' is not valid.`,
        );
      }
      const excluded = asRecord(properties.globalValidation).excludedPaths;
      if (
        excluded !== undefined &&
        (!Array.isArray(excluded) || excluded.some((path) => typeof path !== "string" || !path.startsWith("/")))
      ) {
        throw ArmErrors.badRequest(
          "InvalidRequestContent",
          "globalValidation.excludedPaths must be a list of paths starting with '/'.",
        );
      }
      return { resource: { id: "", name, type: "Microsoft.App/containerApps/authConfigs", properties } };
    },
  });
}
