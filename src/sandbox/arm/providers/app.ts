/**
 * Microsoft.App: managed environments (logs need the workspace's real customerId and current
 * shared key), environment storages (the account key must be the account's current key, the share
 * must exist), container apps (resources, Key Vault references through an assigned identity that
 * holds a secrets role, revisions on template changes) and auth configs.
 */
import { createHash, randomBytes } from "node:crypto";
import type { ArmEngine } from "../engine";
import { ArmErrors } from "../errors";
import { NAME_RULES, asRecord } from "./rules";
import { normalizeLocation } from "./resources";
import { storageKeys } from "./storage";
import type { WorkspaceKeys } from "./monitoring";
import { roleGrants } from "./authorization";
import type { StoredResource } from "../store";

/** Allowed CPU / memory totals on the Consumption plan (0.25 vCPU steps, memory = 2 x cpu). */
const ALLOWED_RESOURCES = new Set(Array.from({ length: 16 }, (_, i) => (i + 1) * 0.25).map((cpu) => `${cpu}/${cpu * 2}Gi`));

function parseMemory(value: unknown): number {
  const match = /^(\d+(?:\.\d+)?)Gi$/.exec(String(value));
  return match ? Number(match[1]) : Number.NaN;
}

function sameId(a: unknown, b: unknown): boolean {
  return typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();
}

export function defineContainerApps(engine: ArmEngine): void {
  const store = engine.store;

  engine.define({
    type: "Microsoft.App/managedEnvironments",
    tracked: true,
    lro: { put: true, delete: true },
    nameRule: NAME_RULES.managedEnvironment,
    put: ({ body, name, existing, id }) => {
      const logs = asRecord(body.properties).appLogsConfiguration as Record<string, unknown> | undefined;
      const properties = { ...asRecord(existing?.resource.properties), ...asRecord(body.properties) };
      if (logs?.destination === "log-analytics") {
        const config = asRecord(logs.logAnalyticsConfiguration);
        const workspace = store.listByType("Microsoft.OperationalInsights/workspaces").find((stored) => asRecord(stored.resource.properties).customerId === config.customerId);
        if (!workspace) throw ArmErrors.badRequest("ManagedEnvironmentInvalidLogAnalyticsWorkspace", `No Log Analytics workspace with customer id '${String(config.customerId)}' was found.`);
        const keys = workspace.hidden.keys as WorkspaceKeys;
        if (config.sharedKey !== keys.primarySharedKey && config.sharedKey !== keys.secondarySharedKey) {
          throw ArmErrors.badRequest("ManagedEnvironmentInvalidLogAnalyticsWorkspace", "The Log Analytics shared key is not valid for the workspace.");
        }
        // ARM never returns the key.
        properties.appLogsConfiguration = { destination: "log-analytics", logAnalyticsConfiguration: { customerId: config.customerId } };
      } else if (logs && !["azure-monitor", "none", undefined].includes(logs.destination as string)) {
        throw ArmErrors.badRequest("InvalidRequestContent", `appLogsConfiguration.destination '${String(logs.destination)}' is not valid.`);
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
          properties: { ...properties, defaultDomain: `${hash.slice(0, 8)}-${hash.slice(8, 16)}.${location}.azurecontainerapps.io`, staticIp: `20.${parseInt(hash.slice(0, 2), 16)}.${parseInt(hash.slice(2, 4), 16)}.${parseInt(hash.slice(4, 6), 16)}` },
        },
      };
    },
  });

  engine.define({
    type: "Microsoft.App/managedEnvironments/storages",
    nameRule: NAME_RULES.environmentStorage,
    put: ({ body, name }) => {
      const azureFile = asRecord(asRecord(body.properties).azureFile);
      const account = store.findStorageAccount(String(azureFile.accountName ?? ""));
      if (!account) throw ArmErrors.badRequest("ManagedEnvironmentStorageAccountNotFound", `Storage account '${String(azureFile.accountName)}' was not found.`);
      const keys = storageKeys(account);
      if (azureFile.accountKey !== keys.key1 && azureFile.accountKey !== keys.key2) throw ArmErrors.badRequest("ManagedEnvironmentInvalidStorageAccountKey", "The storage account key is not valid for the account.");
      if (!["ReadWrite", "ReadOnly"].includes(String(azureFile.accessMode))) throw ArmErrors.badRequest("InvalidRequestContent", "azureFile.accessMode must be ReadWrite or ReadOnly.");
      const share = store.get(`${account.resource.id}/fileServices/default/shares/${String(azureFile.shareName)}`);
      if (!share) throw ArmErrors.badRequest("ManagedEnvironmentStorageShareNotFound", `File share '${String(azureFile.shareName)}' was not found in account '${account.resource.name}'.`);
      return { resource: { id: "", name, type: "Microsoft.App/managedEnvironments/storages", properties: { azureFile: { accountName: azureFile.accountName, shareName: azureFile.shareName, accessMode: azureFile.accessMode } } }, hidden: { accountKey: azureFile.accountKey } };
    },
  });

  engine.define({
    type: "Microsoft.App/containerApps",
    tracked: true,
    lro: { put: true, delete: true },
    nameRule: NAME_RULES.containerApp,
    put: ({ body, name, existing }) => {
      const properties = asRecord(body.properties);
      const environmentId = (properties.environmentId ?? properties.managedEnvironmentId) as string | undefined;
      const environment = environmentId ? store.get(environmentId) : undefined;
      if (!environment) throw ArmErrors.badRequest("ManagedEnvironmentNotFound", `Managed environment '${String(environmentId)}' was not found.`);
      const identity = asRecord(body.identity);
      const assigned = Object.keys(asRecord(identity.userAssignedIdentities));
      for (const identityId of assigned) if (!store.get(identityId)) throw ArmErrors.badRequest("InvalidUserAssignedIdentity", `User-assigned identity '${identityId}' was not found.`);
      const configuration = asRecord(properties.configuration);
      const template = asRecord(properties.template);
      validateTemplate(template, environment);
      for (const secret of (configuration.secrets as Record<string, unknown>[] | undefined) ?? []) {
        if (typeof secret.name !== "string" || !/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(secret.name)) throw ArmErrors.badRequest("ContainerAppSecretInvalid", `Secret name '${String(secret.name)}' is invalid: lowercase letters, digits, '-' and '.'.`);
        if ((secret.value === undefined) === (secret.keyVaultUrl === undefined)) throw ArmErrors.badRequest("ContainerAppSecretInvalid", `Secret '${secret.name}' needs exactly one of value or keyVaultUrl.`);
        if (secret.keyVaultUrl !== undefined && secret.identity !== "system" && !assigned.some((id) => sameId(id, secret.identity))) {
          throw ArmErrors.badRequest("ContainerAppSecretInvalid", `Secret '${secret.name}' references identity '${String(secret.identity)}', which is not assigned to the app.`);
        }
      }
      for (const registry of (configuration.registries as Record<string, unknown>[] | undefined) ?? []) {
        if (registry.identity && registry.identity !== "system" && !assigned.some((id) => sameId(id, registry.identity))) {
          throw ArmErrors.badRequest("InvalidRegistryIdentity", `Registry '${String(registry.server)}' references identity '${String(registry.identity)}', which is not assigned to the app.`);
        }
      }
      const ingress = configuration.ingress as Record<string, unknown> | undefined;
      if (ingress && (!Number.isInteger(ingress.targetPort) || Number(ingress.targetPort) < 1 || Number(ingress.targetPort) > 65535)) throw ArmErrors.badRequest("ContainerAppInvalidIngress", "ingress.targetPort must be a port number.");
      const defaultDomain = String(asRecord(environment.resource.properties).defaultDomain);
      const previous = asRecord(existing?.resource.properties);
      return {
        resource: {
          id: "",
          name,
          type: "Microsoft.App/containerApps",
          location: normalizeLocation(body.location),
          tags: (body.tags as Record<string, string>) ?? {},
          identity: body.identity ?? { type: "None" },
          properties: {
            ...properties,
            environmentId: environment.resource.id,
            managedEnvironmentId: environment.resource.id,
            configuration: { activeRevisionsMode: "Single", ...configuration, ...(ingress ? { ingress: { ...ingress, fqdn: `${name}.${defaultDomain}` } } : {}) },
            template,
            latestRevisionName: previous.latestRevisionName,
            latestReadyRevisionName: previous.latestReadyRevisionName,
            runningStatus: "Running",
          },
        },
      };
    },
    onProvisioned: ({ env, resource }) => {
      const properties = asRecord(resource.resource.properties);
      const failure = keyVaultAccessProblem(resource);
      if (failure) {
        properties.provisioningState = "Failed";
        resource.hidden.provisioningError = { code: "ContainerAppSecretKeyVaultUrlInvalid", message: failure };
        return;
      }
      // A new revision whenever the template changes; configuration-only changes keep the revision.
      const template = JSON.stringify(properties.template ?? {});
      if (resource.hidden.lastTemplate !== template) {
        const suffix = String(asRecord(properties.template).revisionSuffix ?? "") || randomBytes(4).toString("hex").slice(0, 7);
        const revisionName = `${resource.resource.name}--${suffix}`;
        store.put({
          resource: {
            id: `${resource.resource.id}/revisions/${revisionName}`,
            name: revisionName,
            type: "Microsoft.App/containerApps/revisions",
            properties: { createdTime: new Date(env.clock.now()).toISOString(), active: true, replicas: 1, trafficWeight: 100, healthState: "Healthy", provisioningState: "Provisioned", runningState: "Running", template: properties.template },
          },
          hidden: {},
          createdAt: env.clock.now(),
        });
        for (const other of store.listByType("Microsoft.App/containerApps/revisions")) {
          if (other.resource.id.toLowerCase().startsWith(`${resource.resource.id.toLowerCase()}/`) && other.resource.name !== revisionName) {
            Object.assign(asRecord(other.resource.properties), { active: false, trafficWeight: 0, replicas: 0 });
          }
        }
        resource.hidden.lastTemplate = template;
        properties.latestRevisionName = revisionName;
        properties.latestReadyRevisionName = revisionName;
        const ingress = asRecord(asRecord(properties.configuration).ingress);
        properties.latestRevisionFqdn = ingress.fqdn ? `${revisionName}.${String(ingress.fqdn).split(".").slice(1).join(".")}` : undefined;
      }
    },
    actions: {
      listSecrets: ({ resource }) => {
        // Key Vault references are listed with their URLs; resolving values is the app runtime's job.
        const secrets = (asRecord(asRecord(resource.resource.properties).configuration).secrets as Record<string, unknown>[] | undefined) ?? [];
        return { status: 200, body: { value: secrets.map((secret) => ({ name: secret.name, keyVaultUrl: secret.keyVaultUrl, identity: secret.identity })) } };
      },
    },
  });

  /**
   * Each Key Vault reference must be readable by its identity: the identity needs a role with
   * secrets get on the vault (or above), as Container Apps checks when it provisions.
   */
  function keyVaultAccessProblem(app: StoredResource): string | undefined {
    const configuration = asRecord(asRecord(app.resource.properties).configuration);
    for (const secret of (configuration.secrets as Record<string, unknown>[] | undefined) ?? []) {
      if (typeof secret.keyVaultUrl !== "string") continue;
      const vaultName = /^https:\/\/([^.]+)\.vault\./.exec(secret.keyVaultUrl)?.[1];
      const vault = vaultName ? store.findVault(vaultName) : undefined;
      if (!vault || vault.softDeleted) return `Secret '${String(secret.name)}': Key Vault '${vaultName}' was not found.`;
      const identity = typeof secret.identity === "string" ? store.get(secret.identity) : undefined;
      const principalId = identity ? String(asRecord(identity.resource.properties).principalId) : undefined;
      const allowed = principalId && store.roleAssignmentsFor(principalId, vault.id).some((assignment) => roleGrants(assignment.roleDefinitionId, "Microsoft.KeyVault/vaults/secrets/getSecret/action"));
      if (!allowed) return `Failed to provision revision: unable to fetch secret '${String(secret.name)}' from Key Vault '${vaultName}' with identity '${String(secret.identity)}': the identity has no role that can read secrets on the vault.`;
    }
    return undefined;
  }

  function validateTemplate(template: Record<string, unknown>, environment: StoredResource): void {
    const containers = (template.containers as Record<string, unknown>[] | undefined) ?? [];
    if (containers.length === 0) throw ArmErrors.badRequest("ContainerAppInvalidTemplate", "template.containers must have at least one container.");
    let cpu = 0;
    let memory = 0;
    const volumes = new Set(((template.volumes as Record<string, unknown>[] | undefined) ?? []).map((volume) => String(volume.name)));
    for (const container of [...containers, ...((template.initContainers as Record<string, unknown>[] | undefined) ?? [])]) {
      if (typeof container.name !== "string" || typeof container.image !== "string") throw ArmErrors.badRequest("ContainerAppInvalidTemplate", "Every container needs a name and an image.");
      for (const mount of (container.volumeMounts as Record<string, unknown>[] | undefined) ?? []) {
        if (!volumes.has(String(mount.volumeName))) throw ArmErrors.badRequest("ContainerAppInvalidTemplate", `Container '${container.name}' mounts unknown volume '${String(mount.volumeName)}'.`);
      }
    }
    for (const container of containers) {
      const resources = asRecord(container.resources);
      cpu += Number(resources.cpu ?? 0.5);
      memory += resources.memory === undefined ? 1 : parseMemory(resources.memory);
    }
    const key = `${Math.round(cpu * 100) / 100}/${Math.round(memory * 100) / 100}Gi`;
    if (!ALLOWED_RESOURCES.has(key)) throw ArmErrors.badRequest("ContainerAppInvalidResourceTotal", `The total requested CPU and memory resources for this application (CPU: ${cpu}, memory: ${memory}Gi) is invalid. Total CPU and memory for all containers defined in a Container App must add up to one of the following CPU - Memory combinations: [cpu: 0.25, memory: 0.5Gi]; [cpu: 0.5, memory: 1.0Gi]; ... [cpu: 4.0, memory: 8.0Gi]`);
    for (const volume of (template.volumes as Record<string, unknown>[] | undefined) ?? []) {
      if (volume.storageType === "AzureFile" && !store.get(`${environment.resource.id}/storages/${String(volume.storageName)}`)) {
        throw ArmErrors.badRequest("ContainerAppInvalidVolume", `Volume '${String(volume.name)}' references environment storage '${String(volume.storageName)}', which does not exist.`);
      }
    }
    const scale = asRecord(template.scale);
    if (scale.minReplicas !== undefined && scale.maxReplicas !== undefined && Number(scale.minReplicas) > Number(scale.maxReplicas)) throw ArmErrors.badRequest("ContainerAppInvalidScale", "minReplicas cannot exceed maxReplicas.");
  }

  engine.define({
    type: "Microsoft.App/containerApps/revisions",
    put: () => {
      throw ArmErrors.methodNotAllowed("PUT", "Microsoft.App/containerApps/revisions");
    },
    actions: {
      restart: ({ env, resource }) => {
        asRecord(resource.resource.properties).lastRestartTime = new Date(env.clock.now()).toISOString();
        return { status: 200 };
      },
    },
  });

  engine.define({
    type: "Microsoft.App/containerApps/authConfigs",
    createdStatus: 200,
    put: ({ body, name }) => {
      if (name !== "current") throw ArmErrors.badRequest("InvalidResourceName", "The auth config name must be 'current'.");
      const properties = asRecord(body.properties);
      const action = asRecord(properties.globalValidation).unauthenticatedClientAction;
      if (action !== undefined && !["RedirectToLoginPage", "AllowAnonymous", "Return401", "Return403"].includes(String(action))) {
        throw ArmErrors.badRequest("InvalidRequestContent", `unauthenticatedClientAction '${String(action)}' is not valid.`);
      }
      const excluded = asRecord(properties.globalValidation).excludedPaths;
      if (excluded !== undefined && (!Array.isArray(excluded) || excluded.some((path) => typeof path !== "string" || !path.startsWith("/")))) {
        throw ArmErrors.badRequest("InvalidRequestContent", "globalValidation.excludedPaths must be a list of paths starting with '/'.");
      }
      return { resource: { id: "", name, type: "Microsoft.App/containerApps/authConfigs", properties } };
    },
  });
}
