/**
 * The Container App `openclaw` (OpenClaw + NGINX sidecar, always the full container array) and its
 * Entra sign-in (`authConfigs/current`). Secrets are Key Vault references through the gateway's
 * user-assigned identity; no secret value passes through here.
 */
import type { AuthConfig, ContainerApp, Revision } from "@azure/arm-appcontainers";
import { activityDepsFromEnv, type ActivityDeps } from "./deps";
import { registerActivity, type ActivityHandler } from "./define";
import { convergeAction, getOrUndefined } from "./arm";
import { diffDesired } from "./diff";
import { permanent, transient } from "./errors";
import { assertSettledAfterWrite, provisioningDifference } from "./provisioning";

export const ENSURE_CONTAINER_APP = "ensureContainerApp";
export const ENSURE_AUTH_CONFIG = "ensureAuthConfig";

export interface ContainerAppDesired {
  resourceGroup: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  environmentId: string;
  /** ARM id of the user-assigned identity that pulls the image and reads the vault. */
  identityResourceId: string;
  configuration: NonNullable<ContainerApp["configuration"]>;
  template: NonNullable<ContainerApp["template"]>;
}

export interface AuthConfigDesired {
  resourceGroup: string;
  containerAppName: string;
  config: Omit<AuthConfig, "id" | "name" | "type" | "systemData">;
}

export function createContainerAppActivities(deps: ActivityDeps) {
  const ensureContainerApp: ActivityHandler<ContainerAppDesired> = async ({ nodeId, desired }) => {
    const apps = deps.clients.containerApps.containerApps;
    const revisions = deps.clients.containerApps.containerAppsRevisions;
    const current = await getOrUndefined(() => apps.get(desired.resourceGroup, desired.name));
    const wanted: ContainerApp = {
      location: desired.location,
      tags: desired.tags,
      environmentId: desired.environmentId,
      identity: { type: "UserAssigned", userAssignedIdentities: { [desired.identityResourceId]: {} } },
      configuration: desired.configuration,
      template: desired.template,
    };
    const changed = current
      ? [
          ...provisioningDifference(`Container app ${desired.name}`, current.provisioningState),
          ...diffDesired(current, { ...wanted, identity: { type: "UserAssigned" } }),
          ...identityMissing(current, desired.identityResourceId),
        ]
      : ["."];
    let app = current;
    if (changed.length > 0) {
      deps.beforeWrite(current ? changed : [], Boolean(current));
      // Always the whole app: partial container arrays reset the other containers (azure-facts §A).
      app = await apps.beginCreateOrUpdateAndWait(desired.resourceGroup, desired.name, {
        ...wanted,
        tags: { ...(current?.tags ?? {}), ...desired.tags },
      });
    }
    assertSettledAfterWrite(`Container app ${desired.name}`, app?.provisioningState);
    const revision = app?.latestRevisionName
      ? await getOrUndefined(() => revisions.getRevision(desired.resourceGroup, desired.name, app!.latestRevisionName!))
      : undefined;
    if (revision) assertRevisionRuns(desired.name, revision);
    return {
      nodeId,
      action: convergeAction(Boolean(current), changed),
      resourceId: app?.id,
      changed: current ? changed : [],
      outputs: {
        resourceId: app?.id ?? null,
        fqdn: app?.configuration?.ingress?.fqdn ?? null,
        latestRevisionName: app?.latestRevisionName ?? null,
      },
    };
  };

  const ensureAuthConfig: ActivityHandler<AuthConfigDesired> = async ({ nodeId, desired }) => {
    const configs = deps.clients.containerApps.containerAppsAuthConfigs;
    const current = await getOrUndefined(() => configs.get(desired.resourceGroup, desired.containerAppName, "current"));
    const changed = current
      ? diffDesired(current, desired.config).concat(excludedPathsDiffer(current, desired.config))
      : ["."];
    let config = current;
    if (changed.length > 0) deps.beforeWrite(current ? [...new Set(changed)] : [], Boolean(current));
    if (changed.length > 0)
      config = await configs.createOrUpdate(desired.resourceGroup, desired.containerAppName, "current", desired.config);
    return {
      nodeId,
      action: convergeAction(Boolean(current), changed),
      resourceId: config?.id,
      changed: current ? [...new Set(changed)] : [],
      outputs: { resourceId: config?.id ?? null },
    };
  };

  return { ensureContainerApp, ensureAuthConfig };
}

/**
 * The step is done when the app's latest revision runs, not when ARM accepted the app: a
 * revision still provisioning or starting (image pull, seed init container, start-up probe) is
 * waited for; one that failed to provision or keeps failing fails the step with Azure's reason.
 */
function assertRevisionRuns(app: string, revision: Revision): void {
  const name = revision.name ?? "latest revision";
  const provisioning = revision.provisioningState ?? "";
  const running = revision.runningState ?? "";
  if (provisioning === "Failed" || running === "Failed" || running === "Degraded") {
    const reason = revision.provisioningError ? `: ${revision.provisioningError}` : "";
    throw permanent(
      "RevisionFailed",
      `Container app ${app}: revision ${name} is ${provisioning === "Failed" ? "Failed to provision" : running}${reason}. Its logs are in the slug's Log Analytics workspace (ContainerAppConsoleLogs_CL).`,
    );
  }
  if (
    provisioning === "Provisioning" ||
    running === "Processing" ||
    running === "Activating" ||
    revision.healthState === "Unhealthy"
  ) {
    throw transient(
      "ResourceNotReady",
      `Container app ${app}: revision ${name} is ${[provisioning, running, revision.healthState].filter(Boolean).join(", ")}: waiting for it to run.`,
    );
  }
}

/** The identity map is keyed by resource id whose casing ARM may change: compare case-insensitively. */
function identityMissing(current: ContainerApp, identityResourceId: string): string[] {
  const assigned = Object.keys(current.identity?.userAssignedIdentities ?? {}).map((id) => id.toLowerCase());
  return assigned.includes(identityResourceId.toLowerCase()) ? [] : ["identity.userAssignedIdentities"];
}

/** Excluded paths must be exactly the webhook paths: an extra one would open the app without sign-in. */
function excludedPathsDiffer(current: AuthConfig, desired: AuthConfigDesired["config"]): string[] {
  const have = [...(current.globalValidation?.excludedPaths ?? [])].sort();
  const want = [...(desired.globalValidation?.excludedPaths ?? [])].sort();
  return JSON.stringify(have) === JSON.stringify(want) ? [] : ["globalValidation.excludedPaths"];
}

registerActivity(ENSURE_CONTAINER_APP, () => createContainerAppActivities(activityDepsFromEnv()).ensureContainerApp);
registerActivity(ENSURE_AUTH_CONFIG, () => createContainerAppActivities(activityDepsFromEnv()).ensureAuthConfig);
