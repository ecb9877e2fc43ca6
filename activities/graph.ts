/**
 * Microsoft Graph for the Entra kinds (entra-app, entra-group, group-assignment,
 * identity-assignments): lookups by alternate key, Graph's upsert, deleted items, and waiting out
 * Entra's replication.
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
import type { ActivityDeps } from "./deps";
import { transient } from "./errors";

/** The default app role: "assigned to the app" without a specific role. */
export const DEFAULT_APP_ROLE_ID = "00000000-0000-0000-0000-000000000000";

export interface GraphApplication {
  id: string;
  appId: string;
  displayName?: string;
  uniqueName?: string;
  tags?: string[];
  web?: { redirectUris?: string[]; implicitGrantSettings?: { enableIdTokenIssuance?: boolean } };
}

export interface GraphServicePrincipal {
  id: string;
  appId: string;
  appRoleAssignmentRequired?: boolean;
}

export interface GraphGroup {
  id: string;
  displayName: string;
  uniqueName?: string;
}

/** Where a deleted object with a uniqueName would be: `/directory/deletedItems/<type>`. */
export interface DeletedLookup {
  type: "microsoft.graph.application" | "microsoft.graph.group";
  uniqueName: string;
}

/** An object in deleted items. */
export interface DeletedObject {
  id: string;
  uniqueName?: string;
  appId?: string;
}

export interface GraphCollection<T> {
  value: T[];
}

export interface GraphFailure {
  statusCode?: number;
  code?: string;
  message?: string;
  body?: unknown;
}

export const REPLICATION_RETRIES = 5;

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
export function isReplicationLike(error: unknown): boolean {
  const failure = error as GraphFailure;
  if (failure?.statusCode === 404) return true;
  return (
    failure?.statusCode === 400 &&
    /does not exist|not found|reference|invalid value specified for property 'appId'/i.test(String(failure.message))
  );
}

export interface AppRoleAssignment {
  id: string;
  principalId: string;
  principalType?: string;
}

export function escapeOData(value: string): string {
  return value.replace(/'/g, "''");
}

export function sameSet(a: string[], b: string[]): boolean {
  const sorted = [...b].sort();
  return a.length === b.length && [...a].sort().every((value, index) => value === sorted[index]);
}

export function createGraphHelpers(deps: ActivityDeps) {
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

  /** A soft-deleted object in deleted items by its uniqueName, if there is one. */
  async function findDeleted(lookup: DeletedLookup): Promise<DeletedObject | undefined> {
    const page = (await deps
      .graph()
      .api(`/directory/deletedItems/${lookup.type}`)
      .filter(`uniqueName eq '${escapeOData(lookup.uniqueName)}'`)
      .select(lookup.type === "microsoft.graph.application" ? "id,uniqueName,appId" : "id,uniqueName")
      .get()) as GraphCollection<DeletedObject>;
    return page.value.find((item) => item.uniqueName?.toLowerCase() === lookup.uniqueName.toLowerCase());
  }

  /** An app's service principal in deleted items (deleting the app deletes it too, and it counts against the quota). */
  async function findDeletedPrincipal(appId: string): Promise<DeletedObject | undefined> {
    const page = (await deps
      .graph()
      .api("/directory/deletedItems/microsoft.graph.servicePrincipal")
      .filter(`appId eq '${escapeOData(appId)}'`)
      .select("id,appId")
      .get()) as GraphCollection<DeletedObject>;
    return page.value.find((item) => item.appId?.toLowerCase() === appId.toLowerCase());
  }

  /** Permanently delete an object from deleted items; a 404 means it is gone already. */
  async function purgeDeleted(id: string): Promise<void> {
    try {
      await deps.graph().api(`/directory/deletedItems/${id}`).delete();
    } catch (error) {
      if ((error as GraphFailure).statusCode !== 404) throw error;
    }
  }

  /**
   * Delete an object and, with purge, remove it from deleted items too (deleted objects count
   * against the directory's quota for their 30 days). A 404 on either means already done.
   */
  async function deleteObject(path: string, lookup: DeletedLookup, purge: boolean): Promise<void> {
    try {
      await deps.graph().api(path).delete();
    } catch (error) {
      if ((error as GraphFailure).statusCode !== 404) throw error;
    }
    if (!purge) return;
    const deleted = await findDeletedOnceReplicated(lookup);
    if (deleted) await purgeDeleted(deleted.id);
  }

  /** An object just deleted, in deleted items: the deletion may not have replicated there yet, so wait for it. */
  async function findDeletedOnceReplicated(lookup: DeletedLookup): Promise<DeletedObject | undefined> {
    return withReplicationRetry(`find the deleted ${lookup.type}`, async () => {
      const found = await findDeleted(lookup);
      if (!found) throw Object.assign(new Error("not in deleted items yet"), { statusCode: 404 });
      return found;
    }).catch((error: unknown) => {
      if ((error as { code?: string }).code === "GraphReplicationDelay") return undefined;
      throw error;
    });
  }

  /** Every assignment on a service principal (pages of up to 999); undefined when the principal is gone. */
  async function listAssignments(servicePrincipalId: string): Promise<AppRoleAssignment[]> {
    return withReplicationRetry("list the app's assignments", async (graph) => {
      const all: AppRoleAssignment[] = [];
      let page = (await graph
        .api(`/servicePrincipals/${servicePrincipalId}/appRoleAssignedTo`)
        .top(999)
        .get()) as GraphCollection<AppRoleAssignment> & {
        "@odata.nextLink"?: string;
      };
      for (;;) {
        all.push(...page.value);
        if (!page["@odata.nextLink"]) return all;
        page = (await graph.api(page["@odata.nextLink"]).get()) as typeof page;
      }
    });
  }

  return {
    withReplicationRetry,
    find,
    upsert,
    restoreDeleted,
    findDeleted,
    findDeletedOnceReplicated,
    findDeletedPrincipal,
    purgeDeleted,
    deleteObject,
    listAssignments,
  };
}
