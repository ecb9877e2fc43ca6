/**
 * Entra's created-objects quota, checked before an install writes anything.
 *
 * A principal without an Entra admin role (Shire's broker holds `Application.ReadWrite.OwnedBy`,
 * which creates as owner) may create 250 directory objects; deleted ones count until they are
 * purged or their 30 days in deleted items end. Past it every create fails with
 * `Directory_QuotaExceeded`, which an install would meet halfway, after its resource group, vault
 * and storage exist. So install asks first:
 *
 * - used: the live objects the broker created (`GET /servicePrincipals/{id}/createdObjects`, paged
 *   and counted: Graph documents no `$count` for it) plus Shire's objects in deleted items
 *   (applications tagged `managed-by:shire`, service principals tagged `shire-slug:<slug>`, groups
 *   whose uniqueName starts with `shire-`). Graph does not say who created a deleted object:
 *   deleted objects the broker made outside Shire are not seen, and another Shire's in the same
 *   tenant are counted (on the safe side).
 * - needed: what this install would still create. An object that exists is not created again, and
 *   one waiting in deleted items is restored (no new object), except an app's service principal,
 *   which Entra does not restore with its app: Shire creates a new one.
 *
 * Every read retries what a step would (throttling, 5xx, dropped connections), a few times.
 *
 * Installs accepted at the same moment would all see the same remaining quota, so an accepted
 * install claims what it needs in a ledger per principal (ETag-guarded, shared by every broker
 * instance: `directory/<principalId>.json`), and each check counts the other installs' claims
 * too. A claim counts until its install has ended (its slug's record leaves `installing`), when
 * what it created shows in `used`, or for an hour at most (an install that never started). While
 * the install runs, what it already created counts twice: on the safe side.
 */
import type { Client as GraphClient } from "@microsoft/microsoft-graph-client";
import type { ActivityDeps } from "../../activities/deps";
import {
  createGraphHelpers,
  escapeOData,
  type DeletedLookup,
  type GraphApplication,
  type GraphServicePrincipal,
} from "../../activities/graph";
import type { SlugPlan } from "../model/plan";
import type { DirectoryClaim, OperationStore } from "../operations/records";
import { claimKey, endedClaims } from "./claims";
import { apiError } from "./responses";
import { readWithRetry } from "./read-retry";
import { BrokerError } from "../errors";
import type { HttpResponseInit } from "@azure/functions";

/** Entra's quota for a principal without an admin role. */
export const DEFAULT_DIRECTORY_OBJECT_QUOTA = 250;

export interface DirectoryQuota {
  /** Objects counted against the broker's quota now. */
  used: number;
  limit: number;
  /** Objects this install would create, each named (`application shire-a-x1`, ...). */
  needed: number;
  objects: string[];
  /** Objects other installs under way have claimed and may not have created yet. */
  pending: number;
  /** Would the install fit? */
  fits: boolean;
}

/**
 * `SHIRE_DIRECTORY_OBJECT_QUOTA`: the broker's quota (default 250), or `unlimited` when its
 * creations do not count (a custom Entra role with `microsoft.directory/applications/create`).
 */
export function directoryQuotaFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.SHIRE_DIRECTORY_OBJECT_QUOTA?.trim();
  if (!raw) return DEFAULT_DIRECTORY_OBJECT_QUOTA;
  if (raw.toLowerCase() === "unlimited") return undefined;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 0)
    throw new BrokerError(
      "NotConfigured",
      `SHIRE_DIRECTORY_OBJECT_QUOTA must be a whole number of objects or 'unlimited' (got '${raw}').`,
      { statusCode: 503 },
    );
  return limit;
}

/** Every item of a Graph collection, following `@odata.nextLink`. */
async function listAll<T>(graph: GraphClient, path: string, select: string): Promise<T[]> {
  const all: T[] = [];
  type Page = { value: T[]; "@odata.nextLink"?: string };
  let page = await readWithRetry(() => graph.api(path).select(select).top(999).get() as Promise<Page>);
  for (;;) {
    all.push(...page.value);
    const next = page["@odata.nextLink"];
    if (!next) return all;
    page = await readWithRetry(() => graph.api(next).get() as Promise<Page>);
  }
}

/** The objects counted against the principal's quota (see the header for what Graph can tell). */
export async function directoryObjectsUsed(graph: GraphClient, principalId: string): Promise<number> {
  const [live, apps, principals, groups] = await Promise.all([
    listAll<{ id: string }>(graph, `/servicePrincipals/${principalId}/createdObjects`, "id"),
    listAll<{ tags?: string[] }>(graph, "/directory/deletedItems/microsoft.graph.application", "id,tags"),
    listAll<{ tags?: string[] }>(graph, "/directory/deletedItems/microsoft.graph.servicePrincipal", "id,tags"),
    listAll<{ uniqueName?: string }>(graph, "/directory/deletedItems/microsoft.graph.group", "id,uniqueName"),
  ]);
  return (
    live.length +
    apps.filter((app) => (app.tags ?? []).includes("managed-by:shire")).length +
    principals.filter((principal) => (principal.tags ?? []).some((tag) => tag.startsWith("shire-slug:"))).length +
    groups.filter((group) => group.uniqueName?.toLowerCase().startsWith("shire-")).length
  );
}

/** The directory objects installing `plan` would create now (what exists or can be restored is not counted). */
export async function directoryObjectsNeeded(plan: SlugPlan, deps: ActivityDeps): Promise<string[]> {
  const helpers = createGraphHelpers(deps);
  const find = <T>(path: string, select: string) => readWithRetry(() => helpers.find<T>(path, select));
  const findDeleted = (lookup: DeletedLookup) => readWithRetry(() => helpers.findDeleted(lookup));
  const perNode = await Promise.all(
    plan.nodes.map(async (node): Promise<string[]> => {
      if (node.kind === "entraGroup") {
        const uniqueName = node.desired.uniqueName as string;
        const lookup = { type: "microsoft.graph.group" as const, uniqueName };
        if (await find(`/groups(uniqueName='${escapeOData(uniqueName)}')`, "id")) return [];
        return (await findDeleted(lookup)) ? [] : [`group ${uniqueName}`];
      }
      if (node.kind === "entraApp") {
        const uniqueName = node.desired.uniqueName as string;
        const app = await find<GraphApplication>(`/applications(uniqueName='${escapeOData(uniqueName)}')`, "id,appId");
        const principal = `service principal of ${uniqueName}`;
        if (app) {
          const path = `/servicePrincipals(appId='${escapeOData(app.appId)}')`;
          return (await find<GraphServicePrincipal>(path, "id")) ? [] : [principal];
        }
        const restorable = await findDeleted({ type: "microsoft.graph.application", uniqueName });
        return restorable ? [principal] : [`application ${uniqueName}`, principal];
      }
      return [];
    }),
  );
  return perNode.flat();
}

/** The longest a claim counts: longer than any install takes to create its directory objects. */
export const DIRECTORY_CLAIM_TTL_MS = 60 * 60 * 1000;

export interface DirectoryClaims {
  /**
   * The objects other installs claimed and still count, and whether `needed` fits beside them;
   * with `write`, and when it fits, the slug's claim is recorded in the same guarded write.
   */
  reserve(request: {
    slug: string;
    used: number;
    needed: number;
    limit: number;
    write: boolean;
  }): Promise<{ pending: number; fits: boolean }>;
}

/** Claims kept in Shire's records, one ledger per creating principal. */
export function ledgerDirectoryClaims(
  store: OperationStore,
  principalId: string,
  now: () => number = Date.now,
): DirectoryClaims {
  return {
    reserve: async ({ slug, used, needed, limit, write }) => {
      // Which claims' installs have ended, judged on the ledger as read; a claim written after
      // this read is not judged and counts (on the safe side).
      const ended = await endedClaims(store, (await store.getDirectoryLedger(principalId))?.claims ?? {});
      return store.decideDirectory(principalId, (ledger) => {
        const at = now();
        const claims: Record<string, DirectoryClaim> = {};
        for (const [other, claim] of Object.entries(ledger?.claims ?? {}))
          if (at - Date.parse(claim.at) < DIRECTORY_CLAIM_TTL_MS && !ended.has(claimKey(other, claim)))
            claims[other] = claim;
        const pending = Object.entries(claims)
          .filter(([other]) => other !== slug)
          .reduce((sum, [, claim]) => sum + claim.objects, 0);
        const fits = needed === 0 || used + pending + needed <= limit;
        if (!write || !fits || needed === 0) return { answer: { pending, fits } };
        claims[slug] = { objects: needed, at: new Date(at).toISOString() };
        return { next: { principalId, claims }, answer: { pending, fits } };
      });
    },
  };
}

/**
 * Used, limit and needed for installing `plan`, with `claim` the other installs' claims counted
 * (and this slug's made when `claim.write` and it fits); undefined when the broker has no quota
 * to keep.
 */
export async function directoryQuotaFor(
  plan: SlugPlan,
  deps: ActivityDeps,
  limit: number | undefined,
  claim?: { claims: DirectoryClaims; slug: string; write: boolean },
): Promise<DirectoryQuota | undefined> {
  if (limit === undefined) return undefined;
  const [used, objects] = await Promise.all([
    directoryObjectsUsed(deps.graph(), deps.brokerPrincipalId),
    directoryObjectsNeeded(plan, deps),
  ]);
  const needed = objects.length;
  const { pending, fits } = claim
    ? await claim.claims.reserve({ slug: claim.slug, used, needed, limit, write: claim.write })
    : { pending: 0, fits: needed === 0 || used + needed <= limit };
  return { used, limit, needed, objects, pending, fits };
}

/** 422 `DirectoryQuotaExceeded` for an install that would not fit; undefined when it does. */
export function quotaRefusal(slug: string, quota: DirectoryQuota | undefined): HttpResponseInit | undefined {
  if (!quota || quota.fits) return undefined;
  const { used, limit, needed, objects, pending } = quota;
  const underWay = pending > 0 ? `, and installs under way have claimed ${pending} more` : "";
  return apiError(
    422,
    "DirectoryQuotaExceeded",
    `Installing '${slug}' would create ${needed} Entra directory object(s), but the broker's principal has used ${used} of the ${limit} it may create (deleted ones count until purged)${underWay}: nothing was changed. Free quota by tearing down slugs with purge, or see docs/operations.md "Fleet size".`,
    { used, limit, needed, pending, objects },
  );
}
