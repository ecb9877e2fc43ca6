/**
 * Microsoft.App/containerApps: what Container Apps refuses on PUT (an environment that is not
 * provisioned or in another region, unknown identities, secret references to nothing, resources
 * that are not an allowed CPU/memory pair, probes out of range, traffic that does not add up to
 * 100, duplicate container names), what fails provisioning (a Key Vault reference or registry its
 * identity cannot read), and revisions: a template change makes one, a configuration change or a
 * failed provisioning does not. Inline secret values are never shown on GET; listSecrets returns them.
 */
import { randomUUID } from "node:crypto";
import type { ActionContext, ArmEngine, PutContext } from "../engine";
import type { SandboxResponse } from "../../types";
import { ArmErrors } from "../errors";
import { NAME_RULES, asRecord } from "./rules";
import { normalizeLocation } from "./resources";
import { rbacAllows } from "../../auth";
import type { SandboxEnvironment } from "../../service";
import type { ArmStore, StoredResource } from "../store";
import { advanceRevisions, createRevision, revisionsOfApp } from "./revisions";
import { startReplicas, stopReplicas } from "./replicas";

type Json = Record<string, unknown>;

/** Allowed CPU / memory totals on the Consumption plan (0.25 vCPU steps, memory = 2 x cpu). */
const ALLOWED_RESOURCES = new Set(
  Array.from({ length: 16 }, (_, i) => (i + 1) * 0.25).map((cpu) => `${cpu}/${cpu * 2}Gi`),
);

/**
 * Probe ranges Container Apps enforces. The schema's descriptions say failureThreshold 1-10, but
 * the service answers `ContainerAppProbeFailureThresholdOutOfRange` with wider, per-type ranges
 * (microsoft/azure-container-apps#1100: "must be in the range of ['1', '30']"; azurerm PR #31989
 * aligned to the API: liveness 30, readiness 48, startup 240). The other ranges are the schema's.
 */
const FAILURE_THRESHOLD_MAX: Record<string, number> = { Liveness: 30, Readiness: 48, Startup: 240 };
const PROBE_RANGES: Record<string, [number, number]> = {
  periodSeconds: [1, 240],
  timeoutSeconds: [1, 240],
  initialDelaySeconds: [0, 60],
  successThreshold: [1, 10],
  terminationGracePeriodSeconds: [0, 3600],
};

const list = (value: unknown) => (Array.isArray(value) ? (value as Json[]) : []);
const sameId = (a: unknown, b: unknown) =>
  typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();
const capitalize = (value: string) => value.charAt(0).toUpperCase() + value.slice(1);

function parseMemory(value: unknown): number {
  const match = /^(\d+(?:\.\d+)?)Gi$/.exec(String(value));
  return match ? Number(match[1]) : Number.NaN;
}

export function defineContainerApp(engine: ArmEngine): void {
  const store = engine.store;
  // Revisions start, and become ready (or never do), on the sandbox clock.
  engine.onSettle(() => advanceRevisions(engine));

  engine.define({
    type: "Microsoft.App/containerApps",
    tracked: true,
    // ContainerApps_CreateOrUpdate: 200 "No change performed" / 201 "create or update has been started",
    // final-state-via azure-async-operation; Delete: 202 with Location, final-state-via location; Update (PATCH): 202 with Location.
    lro: {
      put: { created: 201, updated: 201, headers: "both", noChangeIsSync: true },
      patch: { created: 202, updated: 202, headers: "location" },
      delete: { headers: "location", doneStatus: 204 },
    },
    states: { creating: ["InProgress"], updating: ["InProgress"], deleting: "Deleting" },
    patch: "merge",
    nameRule: NAME_RULES.containerApp,
    lockConflict: (name) =>
      ArmErrors.conflict(
        "ContainerAppLockConflict",
        `Cannot modify container App '${name}' because another modification is in progress. Please retry the operation.`,
      ),
    put: (ctx) => buildApp(ctx, store),
    // ContainerApps_Stop / ContainerApps_Start finished: the app and its revisions stopped, or back.
    onActionDone: ({ resource, action }) => {
      const stopped = action === "stop";
      asRecord(resource.resource.properties).runningStatus = stopped ? "Stopped" : "Running";
      for (const revision of revisionsOf(store, resource)) {
        const properties = asRecord(revision.resource.properties);
        if (stopped) Object.assign(properties, { replicas: 0, runningState: "Stopped" });
        else if (properties.active === true) Object.assign(properties, { replicas: 1, runningState: "Running" });
        if (stopped) stopReplicas(store, revision);
        else startReplicas(engine, revision);
      }
    },
    onProvisioned: ({ env, resource, failed }) => {
      const properties = asRecord(resource.resource.properties);
      // A failed provisioning makes no healthy revision and leaves the latest ones where they were.
      if (failed) return;
      const failure = keyVaultAccessProblem(env, store, resource) ?? registryPullProblem(env, store, resource);
      if (failure) {
        properties.provisioningState = "Failed";
        resource.hidden.provisioningError = failure;
        return;
      }
      const template = JSON.stringify(properties.template ?? {});
      if (resource.hidden.lastTemplate === template) return;
      // A new revision whenever the template changes; configuration-only changes keep the revision.
      const revisionName = createRevision(engine, resource);
      resource.hidden.lastTemplate = template;
      // The new revision's replica starts (loading the secrets and mounts it names) beside the old one.
      const created = store.get(`${resource.resource.id}/revisions/${revisionName}`);
      if (created) startReplicas(engine, created);
    },
    actions: {
      // ContainerApps_Stop / ContainerApps_Start: long-running (202 + Location, final state via Location: the app).
      stop: (ctx) => changeRunningStatus(ctx, "stop"),
      start: (ctx) => changeRunningStatus(ctx, "start"),
      // ContainerApps_ListSecrets: names with their values (inline ones; Key Vault references are listed with their URL).
      listSecrets: ({ resource }) => {
        const values = asRecord(resource.hidden.secretValues);
        const secrets = list(asRecord(asRecord(resource.resource.properties).configuration).secrets);
        return {
          status: 200,
          body: {
            value: secrets.map((secret) => ({
              name: secret.name,
              ...(values[String(secret.name)] !== undefined ? { value: values[String(secret.name)] } : {}),
              ...(secret.keyVaultUrl ? { keyVaultUrl: secret.keyVaultUrl, identity: secret.identity } : {}),
            })),
          },
        };
      },
    },
  });
}

const revisionsOf = revisionsOfApp;

/**
 * Stop or start: 202 with `Location` while Container Apps works on it (`runningStatus`
 * `Progressing`), then the app `Stopped` (its revisions without replicas) or `Running`; an app
 * already there answers 200 with itself. Like any write, refused while another operation on the
 * app runs (ContainerAppLockConflict).
 */
function changeRunningStatus({ engine, request, resource }: ActionContext, action: "stop" | "start"): SandboxResponse {
  const properties = asRecord(resource.resource.properties);
  const target = action === "stop" ? "Stopped" : "Running";
  if (engine.operations.running(resource.resource.id))
    throw ArmErrors.conflict(
      "ContainerAppLockConflict",
      `Cannot modify container App '${resource.resource.name}' because another modification is in progress. Please retry the operation.`,
    );
  if (properties.runningStatus === target) return { status: 200, body: resource.resource };
  properties.runningStatus = "Progressing";
  const headers = engine.startOperation(request, resource.resource.id, "Microsoft.App/containerApps", "location", {
    action,
    returnsResource: true,
    location: typeof resource.resource.location === "string" ? resource.resource.location : undefined,
  });
  return { status: 202, headers };
}

function buildApp({ env, body, name, existing, resourceGroup }: PutContext, store: ArmStore) {
  const properties = asRecord(body.properties);
  const location = normalizeLocation(body.location);
  const environmentId = (properties.environmentId ?? properties.managedEnvironmentId) as string | undefined;
  const environment = environmentId ? store.get(environmentId) : undefined;
  if (!environment)
    throw ArmErrors.badRequest(
      "ManagedEnvironmentNotFound",
      `Managed environment '${String(environmentId)}' was not found.`,
    );
  if (existing && !sameId(asRecord(existing.resource.properties).environmentId, environment.resource.id)) {
    throw ArmErrors.badRequest(
      "ContainerAppEnvironmentCannotBeChanged",
      `The managed environment of container app '${name}' cannot be changed from '${String(asRecord(existing.resource.properties).environmentId)}'.`,
    );
  }
  if (asRecord(environment.resource.properties).provisioningState !== "Succeeded") {
    throw ArmErrors.badRequest(
      "ManagedEnvironmentNotProvisioned",
      `The environment '${environment.resource.id}' has not been provisioned successfully.`,
    );
  }
  if (normalizeLocation(environment.resource.location) !== location) {
    throw ArmErrors.badRequest(
      "ContainerAppLocationMismatch",
      `The container app's location '${location}' must be the location of its managed environment '${String(environment.resource.location)}'.`,
    );
  }
  const identity = asRecord(body.identity);
  const identityType = String(identity.type ?? "None");
  const assigned = Object.keys(asRecord(identity.userAssignedIdentities));
  for (const identityId of assigned)
    if (!store.get(identityId))
      throw ArmErrors.badRequest(
        "InvalidUserAssignedIdentity",
        `User-assigned identity '${identityId}' was not found.`,
      );
  const hasSystem = identityType.includes("SystemAssigned");
  const usable = (reference: unknown) =>
    reference === "system" ? hasSystem : assigned.some((id) => sameId(id, reference));

  const configuration = asRecord(properties.configuration);
  const secrets = list(configuration.secrets);
  const secretValues: Record<string, string> = {};
  const secretNames = new Set<string>();
  for (const secret of secrets) {
    const secretName = String(secret.name);
    if (typeof secret.name !== "string" || !/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(secret.name))
      throw ArmErrors.badRequest(
        "ContainerAppSecretInvalid",
        `Invalid Request: Container app secret(s) with name(s) '${secretName}' are invalid: a secret name must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character.`,
      );
    const byValue = typeof secret.value === "string";
    const byReference = typeof secret.keyVaultUrl === "string" && typeof secret.identity === "string";
    if (byValue ? secret.keyVaultUrl !== undefined : !byReference)
      throw ArmErrors.badRequest(
        "ContainerAppSecretInvalid",
        `Invalid Request: Container app secret(s) with name(s) '${secretName}' are invalid: value or keyVaultUrl and identity should be provided.`,
      );
    if (byReference && !usable(secret.identity))
      throw ArmErrors.badRequest(
        "ContainerAppSecretInvalid",
        `Invalid Request: Container app secret(s) with name(s) '${secretName}' are invalid: identity '${String(secret.identity)}' is not assigned to the container app.`,
      );
    if (byValue) {
      secretValues[secretName] = String(secret.value);
      env.secrets.remember(String(secret.value));
    }
    secretNames.add(secretName);
  }
  for (const registry of list(configuration.registries)) {
    if (registry.identity !== undefined) {
      if (!usable(registry.identity))
        throw ArmErrors.badRequest(
          "InvalidRegistryIdentity",
          `Registry '${String(registry.server)}' references identity '${String(registry.identity)}', which is not assigned to the app.`,
        );
    } else if (typeof registry.passwordSecretRef !== "string" || typeof registry.username !== "string") {
      throw ArmErrors.badRequest(
        "ContainerAppRegistryInvalid",
        `Registry '${String(registry.server)}' needs either an identity or a username and passwordSecretRef.`,
      );
    } else if (!secretNames.has(registry.passwordSecretRef)) {
      throw ArmErrors.badRequest(
        "ContainerAppSecretRefNotFound",
        `SecretRef '${registry.passwordSecretRef}' defined for registry '${String(registry.server)}' not found.`,
      );
    }
  }
  const ingress = configuration.ingress as Json | undefined;
  if (ingress) validateIngress(ingress);
  const template = asRecord(properties.template);
  validateTemplate(template, environment, secretNames, store);

  // Secret values stay out of what GET returns: Azure shows names (and Key Vault references) only.
  const shownSecrets = secrets.map((secret) => ({
    name: secret.name,
    ...(secret.keyVaultUrl ? { keyVaultUrl: secret.keyVaultUrl, identity: secret.identity } : {}),
  }));
  const defaultDomain = String(asRecord(environment.resource.properties).defaultDomain);
  const previous = asRecord(existing?.resource.properties);
  const systemPrincipal = hasSystem
    ? ((existing?.hidden.systemPrincipal as string | undefined) ?? randomUUID())
    : undefined;
  if (systemPrincipal && !existing?.hidden.systemPrincipal)
    env.directory.add({ id: systemPrincipal, kind: "ServicePrincipal", displayName: name });
  return {
    resource: {
      id: "",
      name,
      type: "Microsoft.App/containerApps",
      location,
      tags: (body.tags as Record<string, string>) ?? {},
      identity: identityView(store, identityType, assigned, systemPrincipal, env.tenantId),
      properties: {
        ...properties,
        environmentId: environment.resource.id,
        managedEnvironmentId: environment.resource.id,
        configuration: {
          activeRevisionsMode: "Single",
          ...configuration,
          secrets: shownSecrets,
          ...(ingress ? { ingress: { ...ingress, fqdn: `${name}.${defaultDomain}` } } : {}),
        },
        template,
        latestRevisionName: previous.latestRevisionName,
        latestReadyRevisionName: previous.latestReadyRevisionName,
        latestRevisionFqdn: previous.latestRevisionFqdn,
        // Only ContainerApps_Stop / ContainerApps_Start change it: a PUT to a stopped app keeps it stopped.
        runningStatus: previous.runningStatus ?? "Running",
      },
    },
    hidden: { secretValues, systemPrincipal, resourceGroup },
  };
}

/** The identity block as Azure returns it: each user-assigned identity with its principalId and clientId. */
function identityView(
  store: ArmStore,
  type: string,
  assigned: string[],
  systemPrincipal: string | undefined,
  tenantId: string,
): Json {
  const view: Json = { type };
  if (systemPrincipal) Object.assign(view, { principalId: systemPrincipal, tenantId });
  if (assigned.length > 0) {
    view.userAssignedIdentities = Object.fromEntries(
      assigned.map((id) => {
        const properties = asRecord(store.get(id)?.resource.properties);
        return [
          store.get(id)?.resource.id ?? id,
          { principalId: properties.principalId, clientId: properties.clientId },
        ];
      }),
    );
  }
  return view;
}

function validateIngress(ingress: Json): void {
  if (!Number.isInteger(ingress.targetPort) || Number(ingress.targetPort) < 1 || Number(ingress.targetPort) > 65535)
    throw ArmErrors.badRequest("ContainerAppInvalidIngress", "ingress.targetPort must be a port number.");
  const traffic = list(ingress.traffic);
  if (traffic.length > 0) {
    const total = traffic.reduce((sum, entry) => sum + Number(entry.weight ?? 0), 0);
    if (total !== 100)
      throw ArmErrors.badRequest(
        "ContainerAppInvalidTrafficWeight",
        `The traffic weights of the container app must add up to 100; they add up to ${total}.`,
      );
    if (traffic.filter((entry) => entry.latestRevision === true).length > 1)
      throw ArmErrors.badRequest(
        "ContainerAppInvalidTrafficWeight",
        "At most one traffic weight can target the latest revision.",
      );
  }
}

function validateTemplate(
  template: Json,
  environment: StoredResource,
  secretNames: Set<string>,
  store: ArmStore,
): void {
  const containers = list(template.containers);
  const initContainers = list(template.initContainers);
  if (containers.length === 0)
    throw ArmErrors.badRequest("ContainerAppInvalidTemplate", "template.containers must have at least one container.");
  const volumes = new Set(list(template.volumes).map((volume) => String(volume.name)));
  const names = new Set<string>();
  for (const container of [...containers, ...initContainers]) {
    if (typeof container.name !== "string" || typeof container.image !== "string")
      throw ArmErrors.badRequest("ContainerAppInvalidTemplate", "Every container needs a name and an image.");
    // Containers and init containers share one pod: their names must differ.
    if (names.has(container.name))
      throw ArmErrors.badRequest(
        "ContainerAppDuplicateContainerName",
        `Container name '${container.name}' is used more than once in the template.`,
      );
    names.add(container.name);
    for (const mount of list(container.volumeMounts)) {
      if (!volumes.has(String(mount.volumeName)))
        throw ArmErrors.badRequest(
          "ContainerAppInvalidTemplate",
          `Container '${container.name}' mounts unknown volume '${String(mount.volumeName)}'.`,
        );
    }
    for (const variable of list(container.env)) {
      if (variable.secretRef !== undefined && !secretNames.has(String(variable.secretRef))) {
        throw ArmErrors.badRequest(
          "ContainerAppSecretRefNotFound",
          `SecretRef '${String(variable.secretRef)}' defined for container '${container.name}' not found.`,
        );
      }
    }
    validateProbes(container);
  }
  let cpu = 0;
  let memory = 0;
  for (const container of containers) {
    const resources = asRecord(container.resources);
    cpu += Number(resources.cpu ?? 0.5);
    memory += resources.memory === undefined ? 1 : parseMemory(resources.memory);
  }
  const key = `${Math.round(cpu * 100) / 100}/${Math.round(memory * 100) / 100}Gi`;
  if (!ALLOWED_RESOURCES.has(key))
    throw ArmErrors.badRequest(
      "ContainerAppInvalidResourceTotal",
      `The total requested CPU and memory resources for this application (CPU: ${cpu}, memory: ${memory}Gi) is invalid. Total CPU and memory for all containers defined in a Container App must add up to one of the following CPU - Memory combinations: [cpu: 0.25, memory: 0.5Gi]; [cpu: 0.5, memory: 1.0Gi]; ... [cpu: 4.0, memory: 8.0Gi]`,
    );
  for (const volume of list(template.volumes)) {
    if (
      volume.storageType === "AzureFile" &&
      !store.get(`${environment.resource.id}/storages/${String(volume.storageName)}`)
    ) {
      throw ArmErrors.badRequest(
        "ContainerAppInvalidVolume",
        `Volume '${String(volume.name)}' references environment storage '${String(volume.storageName)}', which does not exist.`,
      );
    }
  }
  const scale = asRecord(template.scale);
  if (
    scale.minReplicas !== undefined &&
    scale.maxReplicas !== undefined &&
    Number(scale.minReplicas) > Number(scale.maxReplicas)
  )
    throw ArmErrors.badRequest("ContainerAppInvalidScale", "minReplicas cannot exceed maxReplicas.");
}

function validateProbes(container: Json): void {
  const seen = new Set<string>();
  for (const probe of list(container.probes)) {
    const type = capitalize(String(probe.type ?? "Liveness"));
    if (seen.has(type))
      throw ArmErrors.badRequest(
        "ContainerAppProbeTypeDuplicated",
        `Container '${String(container.name)}' has more than one '${type}' probe.`,
      );
    seen.add(type);
    const ranges: Record<string, [number, number]> = {
      ...PROBE_RANGES,
      failureThreshold: [1, FAILURE_THRESHOLD_MAX[type] ?? 30],
    };
    if (type !== "Readiness") ranges.successThreshold = [1, 1];
    for (const [field, [min, max]] of Object.entries(ranges)) {
      const value = probe[field];
      if (value === undefined) continue;
      if (!Number.isInteger(value) || Number(value) < min || Number(value) > max) {
        throw ArmErrors.badRequest(
          `ContainerAppProbe${capitalize(field)}OutOfRange`,
          `Container '${String(container.name)}' '${type}' probe's ${capitalize(field)} must be in the range of ['${min}', '${max}'].`,
        );
      }
    }
  }
}

/** The principal an app uses for `identity` (a user-assigned identity's id, or 'system'). */
function principalOf(store: ArmStore, app: StoredResource, identity: unknown): string | undefined {
  if (identity === "system") return app.hidden.systemPrincipal as string | undefined;
  const stored = typeof identity === "string" ? store.get(identity) : undefined;
  return stored ? String(asRecord(stored.resource.properties).principalId) : undefined;
}

/**
 * Each Key Vault reference must be readable by its identity, as Container Apps checks when it
 * provisions: in RBAC mode a role with secrets get on the vault (or above) that has propagated
 * (`rbacPropagationMs`); in access-policy mode an access policy for the principal with `get` on
 * secrets (roles grant nothing there).
 */
function keyVaultAccessProblem(
  env: SandboxEnvironment,
  store: ArmStore,
  app: StoredResource,
): { code: string; message: string } | undefined {
  const configuration = asRecord(asRecord(app.resource.properties).configuration);
  for (const secret of list(configuration.secrets)) {
    if (typeof secret.keyVaultUrl !== "string") continue;
    const vaultName = /^https:\/\/([^.]+)\.vault\./.exec(secret.keyVaultUrl)?.[1];
    const vault = vaultName ? store.findVault(vaultName) : undefined;
    const fail = (reason: string) => ({
      code: "ContainerAppSecretKeyVaultUrlInvalid",
      message: `Failed to provision revision: unable to fetch secret '${String(secret.name)}' from Key Vault '${vaultName}' with identity '${String(secret.identity)}': ${reason}`,
    });
    if (!vault || vault.softDeleted) return fail("the vault was not found.");
    const principalId = principalOf(store, app, secret.identity);
    if (!principalId) return fail("the identity was not found.");
    const allowed =
      vault.properties.enableRbacAuthorization === true
        ? rbacAllows(
            env,
            store,
            principalId,
            vault.id,
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "dataAction",
          )
        : list(vault.properties.accessPolicies).some(
            (policy) =>
              sameId(policy.objectId, principalId) &&
              list(asRecord(policy.permissions).secrets as unknown).some((permission) =>
                ["get", "all"].includes(String(permission).toLowerCase()),
              ),
          );
    if (!allowed) {
      return fail(
        vault.properties.enableRbacAuthorization === true
          ? "the identity has no role that can read secrets on the vault."
          : "the vault uses access policies and none gives the identity 'get' on secrets (role assignments do not apply to an access-policy vault).",
      );
    }
  }
  return undefined;
}

/** A registry pulled through an identity needs AcrPull (or a role whose Actions cover pull) on the registry, propagated, when the registry is one the sandbox knows. */
function registryPullProblem(
  env: SandboxEnvironment,
  store: ArmStore,
  app: StoredResource,
): { code: string; message: string } | undefined {
  const configuration = asRecord(asRecord(app.resource.properties).configuration);
  for (const registry of list(configuration.registries)) {
    if (registry.identity === undefined) continue;
    const server = String(registry.server).toLowerCase();
    const target = store
      .listByType("Microsoft.ContainerRegistry/registries")
      .find((stored) => String(asRecord(stored.resource.properties).loginServer).toLowerCase() === server);
    if (!target) continue;
    const principalId = principalOf(store, app, registry.identity);
    const allowed =
      principalId &&
      rbacAllows(
        env,
        store,
        principalId,
        target.resource.id,
        "Microsoft.ContainerRegistry/registries/pull/read",
        "action",
      );
    if (!allowed) {
      return {
        code: "ContainerAppImagePullFailed",
        message: `Failed to provision revision for container app '${app.resource.name}': unable to pull images from registry '${server}' with identity '${String(registry.identity)}': UNAUTHORIZED: the identity has no AcrPull role on the registry.`,
      };
    }
  }
  return undefined;
}
