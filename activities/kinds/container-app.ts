/**
 * The Container App `openclaw` (OpenClaw + NGINX sidecar, always the full container array).
 * Secrets are Key Vault references through the gateway's user-assigned identity; no secret value
 * passes through here.
 */
import type { ContainerApp, Revision } from "@azure/arm-appcontainers";
import { convergeAction, getOrUndefined, removeResource } from "../arm";
import { defineKind } from "../define";
import { diffDesired } from "../diff";
import { permanent, transient } from "../errors";
import { assertSettledAfterWrite, provisioningDifference } from "../provisioning";
import { containedIn } from "./teardown";

export const containerAppKind = defineKind({
  kind: "containerApp",
  summary: "The Container App `openclaw`: the OpenClaw gateway, the seed init container and the NGINX sidecar.",
  api: "ARM Microsoft.App/containerApps",
  teardown: (desired, context) => containedIn(desired.resourceGroup, context),
  activities: (deps) => {
    const apps = deps.clients.containerApps.containerApps;
    const revisions = deps.clients.containerApps.containerAppsRevisions;
    return {
      ensure: async ({ nodeId, desired }) => {
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
          app = await apps.beginCreateOrUpdateAndWait(
            desired.resourceGroup,
            desired.name,
            {
              ...wanted,
              tags: { ...(current?.tags ?? {}), ...desired.tags },
            },
            deps.clients.operationPolling,
          );
        }
        assertSettledAfterWrite(`Container app ${desired.name}`, app?.provisioningState);
        // An upgrade's step does not wait here (its health gate does): no read either.
        const revision =
          app?.latestRevisionName && desired.awaitRevision !== false
            ? await getOrUndefined(() =>
                revisions.getRevision(desired.resourceGroup, desired.name, app!.latestRevisionName!),
              )
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
      },
      remove: async ({ nodeId, desired }) =>
        removeResource(
          nodeId,
          deps,
          () => apps.get(desired.resourceGroup, desired.name),
          () => apps.beginDeleteAndWait(desired.resourceGroup, desired.name, deps.clients.operationPolling),
        ),
    };
  },
});

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
