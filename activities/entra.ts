/**
 * Entra ID objects for a slug, through Microsoft Graph: the app registration and its service
 * principal (sign-in at the Container Apps edge; only assigned groups get tokens), the groups
 * `shire-admins` (one per tenant, reused) and `shire-<slug>`, and their assignment to the app.
 *
 * Graph is eventually consistent: an object just created may be invisible to the next call
 * (404 `Request_ResourceNotFound`, or 400 when another object refers to it). Those calls are
 * retried here a few times with backoff; past that the error is thrown as transient and the
 * orchestration retries the whole step, which converges because every step looks up first.
 */
import type { Client as GraphClient } from "@microsoft/microsoft-graph-client";
import { activityDepsFromEnv, type ActivityDeps } from "./deps";
import { registerActivity, type ActivityHandler } from "./define";
import { transient } from "./errors";

export const ENSURE_ENTRA_APP = "ensureEntraApp";
export const ENSURE_ENTRA_GROUP = "ensureEntraGroup";
export const ENSURE_GROUP_ASSIGNMENT = "ensureGroupAssignment";

/** The default app role: "assigned to the app" without a specific role. */
export const DEFAULT_APP_ROLE_ID = "00000000-0000-0000-0000-000000000000";

export interface EntraAppDesired {
  displayName: string;
  /** Tag that marks the app as this slug's (`shire-slug:<slug>`); displayName alone is not unique. */
  ownershipTag: string;
  redirectUris: string[];
}

export interface EntraGroupDesired {
  displayName: string;
  mailNickname: string;
  description: string;
}

export interface GroupAssignmentDesired {
  servicePrincipalId: string;
  groupId: string;
}

interface GraphApplication {
  id: string;
  appId: string;
  displayName?: string;
  tags?: string[];
  web?: { redirectUris?: string[] };
}

interface GraphServicePrincipal {
  id: string;
  appId: string;
  appRoleAssignmentRequired?: boolean;
}

interface GraphGroup {
  id: string;
  displayName: string;
}

interface GraphCollection<T> {
  value: T[];
}

const REPLICATION_RETRIES = 5;

export function createEntraActivities(deps: ActivityDeps) {
  /** Run a Graph call, retrying replication-delay failures with 1, 2, 4, 8 s backoff. */
  async function withReplicationRetry<T>(what: string, call: (graph: GraphClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call(deps.graph());
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode;
        const replicationLike = status === 404 || (status === 400 && /does not exist|not found|reference/i.test(String((error as Error).message)));
        if (!replicationLike) throw error;
        if (attempt >= REPLICATION_RETRIES) throw transient("GraphReplicationDelay", `${what}: object not visible yet after ${attempt} attempts.`);
        await deps.sleep(1000 * 2 ** (attempt - 1));
      }
    }
  }

  const ensureEntraApp: ActivityHandler<EntraAppDesired> = async ({ nodeId, desired }) => {
    const graph = deps.graph();
    const filter = `displayName eq '${escapeOData(desired.displayName)}'`;
    const found = (await graph.api("/applications").filter(filter).select("id,appId,displayName,tags,web").get()) as GraphCollection<GraphApplication>;
    const existing = found.value.find((app) => app.tags?.includes(desired.ownershipTag));
    const changed: string[] = [];
    let application = existing;
    if (!application) {
      deps.beforeWrite([], false);
      application = (await graph.api("/applications").post({
        displayName: desired.displayName,
        signInAudience: "AzureADMyOrg",
        tags: [desired.ownershipTag, "managed-by:shire"],
        web: { redirectUris: desired.redirectUris },
        // Only groups assigned to the app go into the token: avoids the ~200-group overage.
        groupMembershipClaims: "ApplicationGroup",
      })) as GraphApplication;
    } else if (!sameSet(application.web?.redirectUris ?? [], desired.redirectUris)) {
      const applicationId = application.id;
      deps.beforeWrite(["web.redirectUris"], true);
      await withReplicationRetry("update app redirect URIs", (client) => client.api(`/applications/${applicationId}`).patch({ web: { redirectUris: desired.redirectUris } }));
      changed.push("web.redirectUris");
    }
    const app = application;

    // The service principal: created once; `appRoleAssignmentRequired` so only assigned groups sign in.
    const principals = (await withReplicationRetry("find service principal", (client) =>
      client.api("/servicePrincipals").filter(`appId eq '${app.appId}'`).select("id,appId,appRoleAssignmentRequired").get(),
    )) as GraphCollection<GraphServicePrincipal>;
    let principal = principals.value[0];
    if (!principal) {
      deps.beforeWrite(["servicePrincipal"], true);
      principal = (await withReplicationRetry("create service principal", (client) =>
        client.api("/servicePrincipals").post({ appId: app.appId, appRoleAssignmentRequired: true, tags: [desired.ownershipTag] }),
      )) as GraphServicePrincipal;
      changed.push("servicePrincipal");
    } else if (principal.appRoleAssignmentRequired !== true) {
      const principalId = principal.id;
      deps.beforeWrite(["servicePrincipal.appRoleAssignmentRequired"], true);
      await withReplicationRetry("require assignment", (client) => client.api(`/servicePrincipals/${principalId}`).patch({ appRoleAssignmentRequired: true }));
      changed.push("servicePrincipal.appRoleAssignmentRequired");
    }
    return {
      nodeId,
      action: !existing ? ("created" as const) : changed.length > 0 ? ("updated" as const) : ("unchanged" as const),
      resourceId: app.id,
      changed: existing ? changed : [],
      outputs: { applicationObjectId: app.id, appId: app.appId, servicePrincipalId: principal.id },
    };
  };

  const ensureEntraGroup: ActivityHandler<EntraGroupDesired> = async ({ nodeId, desired }) => {
    const graph = deps.graph();
    const found = (await graph.api("/groups").filter(`displayName eq '${escapeOData(desired.displayName)}'`).select("id,displayName").get()) as GraphCollection<GraphGroup>;
    const existing = found.value[0];
    if (!existing) deps.beforeWrite([], false);
    const group =
      existing ??
      ((await graph.api("/groups").post({
        displayName: desired.displayName,
        mailEnabled: false,
        mailNickname: desired.mailNickname,
        securityEnabled: true,
        description: desired.description,
      })) as GraphGroup);
    return { nodeId, action: existing ? ("unchanged" as const) : ("created" as const), resourceId: group.id, changed: [], outputs: { groupId: group.id } };
  };

  const ensureGroupAssignment: ActivityHandler<GroupAssignmentDesired> = async ({ nodeId, desired }) => {
    const assigned = (await withReplicationRetry("list assignments", (client) =>
      client.api(`/servicePrincipals/${desired.servicePrincipalId}/appRoleAssignedTo`).get(),
    )) as GraphCollection<{ id: string; principalId: string }>;
    const existing = assigned.value.find((assignment) => assignment.principalId?.toLowerCase() === desired.groupId.toLowerCase());
    if (existing) return { nodeId, action: "unchanged" as const, resourceId: existing.id, changed: [], outputs: { assignmentId: existing.id } };
    deps.beforeWrite([], false);
    const created = (await withReplicationRetry("assign group", (client) =>
      client.api(`/servicePrincipals/${desired.servicePrincipalId}/appRoleAssignedTo`).post({
        principalId: desired.groupId,
        resourceId: desired.servicePrincipalId,
        appRoleId: DEFAULT_APP_ROLE_ID,
      }),
    )) as { id: string };
    return { nodeId, action: "created" as const, resourceId: created.id, changed: [], outputs: { assignmentId: created.id } };
  };

  return { ensureEntraApp, ensureEntraGroup, ensureGroupAssignment };
}

function escapeOData(value: string): string {
  return value.replace(/'/g, "''");
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().every((value, index) => value === [...b].sort()[index]);
}

registerActivity(ENSURE_ENTRA_APP, () => createEntraActivities(activityDepsFromEnv()).ensureEntraApp);
registerActivity(ENSURE_ENTRA_GROUP, () => createEntraActivities(activityDepsFromEnv()).ensureEntraGroup);
registerActivity(ENSURE_GROUP_ASSIGNMENT, () => createEntraActivities(activityDepsFromEnv()).ensureGroupAssignment);
