/**
 * Entra ID objects for a slug, through Microsoft Graph: app registrations with their service
 * principals (the sign-in app at the Container Apps edge, where only assigned principals get
 * tokens; and, with Teams, the bot's own app), the groups `shire-admins` (one per tenant, shared
 * by every slug) and `shire-<slug>`, and their assignment to the sign-in app.
 *
 * Idempotent under Entra's eventual consistency, crashes and concurrent installs:
 * - every object Shire creates is keyed: apps and groups by a `uniqueName`, a service principal
 *   by its appId. Lookups go by that key, and objects are created with Graph's upsert
 *   (`PATCH /applications(uniqueName='…')` with `Prefer: create-if-missing`), which the directory
 *   serializes on the key: a create that loses a race, or repeats one whose answer was lost,
 *   updates the one object instead of making a second (204, then the object is read back).
 * - a lookup right after a create may not see the object yet (404, or 400 when another object
 *   refers to it). Those calls are retried here a few times with backoff; past that the step
 *   fails as a propagation delay and the walker retries the whole step, which converges because
 *   every step looks up first.
 */
import type { Client as GraphClient } from "@microsoft/microsoft-graph-client";
import { activityDepsFromEnv, type ActivityDeps } from "./deps";
import { registerActivity, type ActivityHandler } from "./define";
import { permanent, transient } from "./errors";

export const ENSURE_ENTRA_APP = "ensureEntraApp";
export const ENSURE_ENTRA_GROUP = "ensureEntraGroup";
export const ENSURE_GROUP_ASSIGNMENT = "ensureGroupAssignment";

/** The default app role: "assigned to the app" without a specific role. */
export const DEFAULT_APP_ROLE_ID = "00000000-0000-0000-0000-000000000000";

export interface EntraAppDesired {
  displayName: string;
  /** Tenant-unique key of this app (`shire-<slug>-<suffix>`): lookups and creates go by it. */
  uniqueName: string;
  /** Tag that marks the app as this slug's (`shire-slug:<slug>`). */
  ownershipTag: string;
  /** Sign-in redirect URIs (Container Apps authentication callback); none for the bot's app. */
  redirectUris: string[];
  /** Only principals assigned to the app get tokens for it (the sign-in app, not the bot). */
  assignmentRequired: boolean;
  /** Container Apps authentication signs users in with the hybrid flow and needs ID tokens. */
  idTokenIssuance: boolean;
}

export interface EntraGroupDesired {
  displayName: string;
  /** Tenant-unique key (`shire-admins`, `shire-<slug>-<suffix>`). */
  uniqueName: string;
  mailNickname: string;
  description: string;
}

export interface GroupAssignmentDesired {
  servicePrincipalId: string;
  /** The group, user or service principal to assign to the app. */
  principalId: string;
  /**
   * Named by the operator (allowedIdentities), not made by this install: it has long replicated,
   * so "does not exist" means it does not exist (a typo), not "not visible yet".
   */
  external?: boolean;
}

interface GraphApplication {
  id: string;
  appId: string;
  displayName?: string;
  uniqueName?: string;
  tags?: string[];
  web?: { redirectUris?: string[]; implicitGrantSettings?: { enableIdTokenIssuance?: boolean } };
}

interface GraphServicePrincipal {
  id: string;
  appId: string;
  appRoleAssignmentRequired?: boolean;
}

interface GraphGroup {
  id: string;
  displayName: string;
  uniqueName?: string;
}

/** Where a deleted object with a uniqueName would be: `/directory/deletedItems/<type>`. */
interface DeletedLookup {
  type: "microsoft.graph.application" | "microsoft.graph.group";
  uniqueName: string;
}

interface GraphCollection<T> {
  value: T[];
}

interface GraphFailure {
  statusCode?: number;
  code?: string;
  message?: string;
  body?: unknown;
}

const REPLICATION_RETRIES = 5;

/** The directory refused a create because the object's key is taken: it exists (maybe not visible yet). */
export function isAlreadyExists(error: unknown): boolean {
  const failure = error as GraphFailure;
  if (failure?.statusCode !== 400 && failure?.statusCode !== 409) return false;
  const text = `${failure.code ?? ""} ${failure.message ?? ""} ${typeof failure.body === "string" ? failure.body : JSON.stringify(failure.body ?? "")}`;
  return /Request_MultipleObjectsWithSameKeyValue|ObjectConflict|already exists|already in use|same value for property/i.test(
    text,
  );
}

/** Not visible yet: a 404, or a 400 about a reference to an object this replica does not have. */
function isReplicationLike(error: unknown): boolean {
  const failure = error as GraphFailure;
  if (failure?.statusCode === 404) return true;
  return (
    failure?.statusCode === 400 &&
    /does not exist|not found|reference|invalid value specified for property 'appId'/i.test(String(failure.message))
  );
}

export function createEntraActivities(deps: ActivityDeps) {
  /** Run a Graph call, retrying replication-delay failures with 1, 2, 4, 8 s backoff. */
  async function withReplicationRetry<T>(what: string, call: (graph: GraphClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call(deps.graph());
      } catch (error) {
        if (!isReplicationLike(error)) throw error;
        if (attempt >= REPLICATION_RETRIES)
          throw transient("GraphReplicationDelay", `${what}: object not visible yet after ${attempt} attempts.`);
        await deps.sleep(1000 * 2 ** (attempt - 1));
      }
    }
  }

  /** GET by alternate key; undefined on 404 (absent, or not replicated here yet: a create settles which). */
  async function find<T>(path: string, select: string): Promise<T | undefined> {
    try {
      return (await deps.graph().api(path).select(select).get()) as T;
    } catch (error) {
      if ((error as GraphFailure).statusCode === 404) return undefined;
      throw error;
    }
  }

  /**
   * Upsert the object keyed by `path` (an alternate-key URL). 201 carries the new object; 204 means
   * it existed (made by a concurrent install, or by a run whose answer was lost, and not visible to
   * our read yet) and was updated to `body`: read it back, waiting for replication.
   */
  async function upsert<T>(
    what: string,
    path: string,
    select: string,
    body: Record<string, unknown>,
    deleted?: DeletedLookup,
  ): Promise<{ object: T; created: boolean }> {
    const write = () =>
      withReplicationRetry(`upsert ${what}`, (graph) =>
        graph.api(path).header("Prefer", "create-if-missing").patch(body),
      ) as Promise<T | undefined | "">;
    let created: T | undefined | "";
    try {
      created = await write();
    } catch (error) {
      // A deleted object keeps its uniqueName for its 30 days in deleted items: bring it back
      // (its id and appId with it) rather than fail, then converge it like any other.
      if (!deleted || !isAlreadyExists(error) || !(await restoreDeleted(deleted))) throw error;
      created = await write();
    }
    if (created && typeof created === "object") return { object: created, created: true };
    const existing = await withReplicationRetry(
      `read ${what} back`,
      (graph) => graph.api(path).select(select).get() as Promise<T>,
    );
    return { object: existing, created: false };
  }

  /** Find a soft-deleted object by uniqueName in deleted items and restore it; false when there is none. */
  async function restoreDeleted(lookup: DeletedLookup): Promise<boolean> {
    const graph = deps.graph();
    const page = (await graph
      .api(`/directory/deletedItems/${lookup.type}`)
      .filter(`uniqueName eq '${escapeOData(lookup.uniqueName)}'`)
      .select("id,uniqueName")
      .get()) as GraphCollection<{ id: string; uniqueName?: string }>;
    const match = page.value.find((item) => item.uniqueName?.toLowerCase() === lookup.uniqueName.toLowerCase());
    if (!match) return false;
    deps.beforeWrite([`restore deleted ${lookup.type.replace("microsoft.graph.", "")}`], true);
    await graph.api(`/directory/deletedItems/${match.id}/restore`).post({});
    return true;
  }

  const APP_FIELDS = "id,appId,displayName,uniqueName,tags,web";

  const ensureEntraApp: ActivityHandler<EntraAppDesired> = async ({ nodeId, desired }) => {
    const appPath = `/applications(uniqueName='${escapeOData(desired.uniqueName)}')`;
    const found = await find<GraphApplication>(appPath, APP_FIELDS);
    const changed: string[] = [];
    let application = found;
    /** Did this run create the app? (An app adopted after a conflict existed already: not visible to the first read.) */
    let created = false;
    if (!application) {
      deps.beforeWrite([], false);
      const outcome = await upsert<GraphApplication>(
        "application",
        appPath,
        APP_FIELDS,
        {
          displayName: desired.displayName,
          signInAudience: "AzureADMyOrg",
          tags: [desired.ownershipTag, "managed-by:shire"],
          web: {
            redirectUris: desired.redirectUris,
            implicitGrantSettings: { enableIdTokenIssuance: desired.idTokenIssuance },
          },
          // Only groups assigned to the app go into the token: avoids the ~200-group overage.
          groupMembershipClaims: "ApplicationGroup",
        },
        { type: "microsoft.graph.application", uniqueName: desired.uniqueName },
      );
      application = outcome.object;
      created = outcome.created;
    }
    const app = application;
    const webChanges = [
      ...(sameSet(app.web?.redirectUris ?? [], desired.redirectUris) ? [] : ["web.redirectUris"]),
      ...((app.web?.implicitGrantSettings?.enableIdTokenIssuance ?? false) === desired.idTokenIssuance
        ? []
        : ["web.implicitGrantSettings.enableIdTokenIssuance"]),
    ];
    if (webChanges.length > 0) {
      deps.beforeWrite(webChanges, true);
      // PATCH replaces a complex property whole: send every part of `web` Shire manages.
      const web = {
        redirectUris: desired.redirectUris,
        implicitGrantSettings: { ...app.web?.implicitGrantSettings, enableIdTokenIssuance: desired.idTokenIssuance },
      };
      await withReplicationRetry("update the app's web settings", (graph) =>
        graph.api(`/applications/${app.id}`).patch({ web }),
      );
      changed.push(...webChanges);
    }

    // The service principal: keyed by appId; `appRoleAssignmentRequired` decides who gets tokens.
    const principalPath = `/servicePrincipals(appId='${escapeOData(app.appId)}')`;
    let principal = await find<GraphServicePrincipal>(principalPath, "id,appId,appRoleAssignmentRequired");
    if (!principal) {
      deps.beforeWrite(["servicePrincipal"], !created);
      // A brand-new app may not have replicated yet (400 about the appId): upsert waits for it.
      const outcome = await upsert<GraphServicePrincipal>(
        "service principal",
        principalPath,
        "id,appId,appRoleAssignmentRequired",
        {
          appRoleAssignmentRequired: desired.assignmentRequired,
          tags: [desired.ownershipTag],
        },
      );
      principal = outcome.object;
      if (outcome.created && !created) changed.push("servicePrincipal");
    }
    if ((principal.appRoleAssignmentRequired ?? false) !== desired.assignmentRequired) {
      const principalId = principal.id;
      deps.beforeWrite(["servicePrincipal.appRoleAssignmentRequired"], true);
      await withReplicationRetry("set assignment required", (graph) =>
        graph.api(`/servicePrincipals/${principalId}`).patch({ appRoleAssignmentRequired: desired.assignmentRequired }),
      );
      changed.push("servicePrincipal.appRoleAssignmentRequired");
    }
    return {
      nodeId,
      action: created ? ("created" as const) : changed.length > 0 ? ("updated" as const) : ("unchanged" as const),
      resourceId: app.id,
      changed: created ? [] : changed,
      outputs: { applicationObjectId: app.id, appId: app.appId, servicePrincipalId: principal.id },
    };
  };

  const ensureEntraGroup: ActivityHandler<EntraGroupDesired> = async ({ nodeId, desired }) => {
    const groupPath = `/groups(uniqueName='${escapeOData(desired.uniqueName)}')`;
    const existing = await find<GraphGroup>(groupPath, "id,displayName,uniqueName");
    if (existing)
      return {
        nodeId,
        action: "unchanged" as const,
        resourceId: existing.id,
        changed: [],
        outputs: { groupId: existing.id },
      };
    deps.beforeWrite([], false);
    const { object: group, created } = await upsert<GraphGroup>(
      "group",
      groupPath,
      "id,displayName,uniqueName",
      {
        displayName: desired.displayName,
        mailEnabled: false,
        mailNickname: desired.mailNickname,
        securityEnabled: true,
        description: desired.description,
      },
      { type: "microsoft.graph.group", uniqueName: desired.uniqueName },
    );
    return {
      nodeId,
      action: created ? ("created" as const) : ("unchanged" as const),
      resourceId: group.id,
      changed: [],
      outputs: { groupId: group.id },
    };
  };

  const ensureGroupAssignment: ActivityHandler<GroupAssignmentDesired> = async ({ nodeId, desired }) => {
    // Every page: an app with many assigned principals answers in pages of 100.
    const list = () =>
      withReplicationRetry("list the app's assignments", async (graph) => {
        let page = (await graph
          .api(`/servicePrincipals/${desired.servicePrincipalId}/appRoleAssignedTo`)
          .top(999)
          .get()) as GraphCollection<{ id: string; principalId: string }> & { "@odata.nextLink"?: string };
        for (;;) {
          const found = page.value.find(
            (assignment) => assignment.principalId?.toLowerCase() === desired.principalId.toLowerCase(),
          );
          if (found || !page["@odata.nextLink"]) return found;
          page = (await graph.api(page["@odata.nextLink"]).get()) as typeof page;
        }
      });
    const existing = await list();
    if (existing)
      return {
        nodeId,
        action: "unchanged" as const,
        resourceId: existing.id,
        changed: [],
        outputs: { assignmentId: existing.id },
      };
    deps.beforeWrite([], false);
    const assign = (graph: GraphClient) =>
      graph.api(`/servicePrincipals/${desired.servicePrincipalId}/appRoleAssignedTo`).post({
        principalId: desired.principalId,
        resourceId: desired.servicePrincipalId,
        appRoleId: DEFAULT_APP_ROLE_ID,
      }) as Promise<{ id: string }>;
    try {
      const created = desired.external
        ? await assignExternal(assign, desired.principalId)
        : await withReplicationRetry("assign to the app", assign);
      return {
        nodeId,
        action: "created" as const,
        resourceId: created.id,
        changed: [],
        outputs: { assignmentId: created.id },
      };
    } catch (error) {
      // "Permission being assigned already exists on the object": made by a run whose answer was lost.
      if (!isAlreadyExists(error)) throw error;
      const found = await list();
      if (!found) throw transient("GraphReplicationDelay", `${nodeId}: the assignment exists but is not visible yet.`);
      return {
        nodeId,
        action: "unchanged" as const,
        resourceId: found.id,
        changed: [],
        outputs: { assignmentId: found.id },
      };
    }
  };

  /** An operator-named principal that Graph says does not exist is a permanent, clear failure. */
  async function assignExternal(
    assign: (graph: GraphClient) => Promise<{ id: string }>,
    principalId: string,
  ): Promise<{ id: string }> {
    try {
      return await assign(deps.graph());
    } catch (error) {
      if (!isReplicationLike(error)) throw error;
      throw permanent(
        "AllowedIdentityNotFound",
        `Entra has no user, group or service principal with object id ${principalId}: check allowedIdentities.`,
      );
    }
  }

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
