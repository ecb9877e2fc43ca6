/**
 * Placement: which subscription a slug's footprint goes to, chosen once, at its first install,
 * from a pool of subscriptions and the regions each serves (`SHIRE_PLACEMENT_POOL`), by the
 * quotas that would otherwise stop an install halfway:
 *
 * - Container Apps environments: 15 per region per subscription by default
 *   (`SHIRE_ENVIRONMENTS_PER_REGION` when a quota request raised it). A slug has one.
 * - Role assignments: 4,000 per subscription, every scope in it
 *   (`SHIRE_ROLE_ASSIGNMENTS_PER_SUBSCRIPTION`). A slug makes the plan's `roleAssignment` nodes.
 *
 * The pool is tried in its order and the first subscription with room for the slug's region
 * wins: operators fill one subscription before the next, and the order says which. The choice is
 * recorded on the slug (`subscriptionId`) and never changes: an installed slug is converged where
 * it is, and a request naming another subscription is refused. A full pool is refused (422
 * `PlacementPoolFull`) with what each candidate has, before anything is written.
 *
 * Like the directory quota, this is a preflight, not a reservation: installs checked at the same
 * moment see the same room, and the last may meet Azure's own refusal at its step.
 */
import type { HttpResponseInit } from "@azure/functions";
import type { ActivityDeps } from "../../activities/deps";
import type { SlugPlan } from "../model/plan";
import type { AppliedState, OperationStore, PlacementClaim } from "../operations/records";
import { BrokerError } from "../errors";
import { apiError } from "./responses";
import { readWithRetry } from "./read-retry";
import { claimKey, endedClaims } from "./claims";

/** Azure's default quota of Container Apps environments per region per subscription. */
export const DEFAULT_ENVIRONMENTS_PER_REGION = 15;
/** Azure's limit of role assignments per subscription. */
export const DEFAULT_ROLE_ASSIGNMENTS_PER_SUBSCRIPTION = 4_000;

/** One subscription of the pool and the regions it takes slugs in (all regions when absent). */
export interface PoolSubscription {
  subscriptionId: string;
  regions?: string[];
}

export interface PlacementSettings {
  pool: PoolSubscription[];
  /** Undefined: not checked (`unlimited`), and not read. */
  environmentsPerRegion: number | undefined;
  roleAssignmentsPerSubscription: number | undefined;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Azure writes a region as `West Europe` or `westeurope`: compare them one way. */
export function normalizeRegion(region: string): string {
  return region.replace(/\s+/g, "").toLowerCase();
}

const notConfigured = (message: string) => new BrokerError("NotConfigured", message, { statusCode: 503 });

/** A quota setting: its default when unset, a whole number, or `unlimited` (not checked). */
function quotaSetting(raw: string | undefined, name: string, fallback: number): number | undefined {
  if (!raw?.trim()) return fallback;
  if (raw.trim().toLowerCase() === "unlimited") return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw notConfigured(`${name} must be a whole number above 0 or 'unlimited' (got '${raw}').`);
  return value;
}

/**
 * The pool from `SHIRE_PLACEMENT_POOL`: a JSON array of `{"subscriptionId": "...", "regions":
 * ["westeurope", ...]}`. Unset: the broker's own subscription, every region (one subscription,
 * still checked against its quotas).
 */
export function placementSettingsFromEnv(
  brokerSubscriptionId: string,
  env: NodeJS.ProcessEnv = process.env,
): PlacementSettings {
  const raw = env.SHIRE_PLACEMENT_POOL?.trim();
  let pool: PoolSubscription[] = [{ subscriptionId: brokerSubscriptionId }];
  if (raw) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (error) {
      throw notConfigured(`SHIRE_PLACEMENT_POOL is not JSON: ${(error as Error).message}`);
    }
    if (!Array.isArray(parsed) || parsed.length === 0)
      throw notConfigured('SHIRE_PLACEMENT_POOL must be a non-empty JSON array of {"subscriptionId", "regions"}.');
    const seen = new Set<string>();
    pool = parsed.map((entry, index) => {
      const { subscriptionId, regions } = (entry ?? {}) as { subscriptionId?: unknown; regions?: unknown };
      if (typeof subscriptionId !== "string" || !GUID.test(subscriptionId))
        throw notConfigured(`SHIRE_PLACEMENT_POOL[${index}].subscriptionId must be a subscription id (GUID).`);
      if (seen.has(subscriptionId.toLowerCase()))
        throw notConfigured(`SHIRE_PLACEMENT_POOL names subscription ${subscriptionId} twice.`);
      seen.add(subscriptionId.toLowerCase());
      if (regions !== undefined && (!Array.isArray(regions) || regions.some((region) => typeof region !== "string")))
        throw notConfigured(`SHIRE_PLACEMENT_POOL[${index}].regions must be a list of region names.`);
      return {
        subscriptionId,
        ...(regions ? { regions: (regions as string[]).map(normalizeRegion) } : {}),
      };
    });
  }
  return {
    pool,
    environmentsPerRegion: quotaSetting(
      env.SHIRE_ENVIRONMENTS_PER_REGION,
      "SHIRE_ENVIRONMENTS_PER_REGION",
      DEFAULT_ENVIRONMENTS_PER_REGION,
    ),
    roleAssignmentsPerSubscription: quotaSetting(
      env.SHIRE_ROLE_ASSIGNMENTS_PER_SUBSCRIPTION,
      "SHIRE_ROLE_ASSIGNMENTS_PER_SUBSCRIPTION",
      DEFAULT_ROLE_ASSIGNMENTS_PER_SUBSCRIPTION,
    ),
  };
}

/** What one subscription has of each quota, for a slug's region. */
export interface SubscriptionRoom {
  subscriptionId: string;
  region: string;
  /** Absent: that quota is not checked (its setting is `unlimited`). */
  environments?: QuotaRoom;
  roleAssignments?: QuotaRoom;
  fits: boolean;
}

export interface QuotaRoom {
  /** What Azure lists, plus `pending`. */
  used: number;
  limit: number;
  needed: number;
  /** Claimed by installs placed here whose environment Azure does not list yet (in `used`). */
  pending?: number;
}

const overrun = (room: QuotaRoom | undefined) => room !== undefined && room.used + room.needed > room.limit;

/** What the slug would add to a subscription: its environment (unless it exists), and role assignments. */
export interface PlacementNeeds {
  environmentName: string;
  /** Role assignments the plan makes in that subscription that the slug has not applied yet. */
  roleAssignments: number;
}

/**
 * The needs of a plan made for one candidate subscription. A grant on a resource elsewhere (the
 * shared registry's AcrPull) counts where that resource is, not here; one the slug already
 * applied exists and adds nothing.
 */
export function placementNeeds(plan: SlugPlan, subscriptionId: string, applied?: AppliedState): PlacementNeeds {
  const environment = plan.nodes.find((node) => node.kind === "managedEnvironment");
  const inSubscription = `/subscriptions/${subscriptionId.toLowerCase()}/`;
  return {
    environmentName: String((environment?.desired as { name?: unknown } | undefined)?.name ?? ""),
    roleAssignments: plan.nodes.filter(
      (node) =>
        node.kind === "roleAssignment" &&
        String((node.desired as { scope?: unknown }).scope)
          .toLowerCase()
          .startsWith(inSubscription) &&
        !applied?.nodes[node.id],
    ).length,
  };
}

/** A subscription's room as Azure lists it, and the names of the environments it has in the region. */
export interface ListedRoom {
  room: SubscriptionRoom;
  environments: ReadonlySet<string>;
}

/** One subscription's room, from a read per quota checked: its environments, its role assignments. */
export async function subscriptionRoom(
  deps: ActivityDeps,
  region: string,
  needs: PlacementNeeds,
  settings: PlacementSettings,
): Promise<ListedRoom> {
  const wanted = normalizeRegion(region);
  let environments: QuotaRoom | undefined;
  const names = new Set<string>();
  if (settings.environmentsPerRegion !== undefined) {
    const limit = settings.environmentsPerRegion;
    environments = await readWithRetry(async () => {
      names.clear();
      for await (const environment of deps.clients.containerApps.managedEnvironments.listBySubscription())
        if (normalizeRegion(environment.location ?? "") === wanted) names.add(environment.name?.toLowerCase() ?? "");
      return { used: names.size, limit, needed: names.has(needs.environmentName.toLowerCase()) ? 0 : 1 };
    });
  }
  let roleAssignments: QuotaRoom | undefined;
  if (settings.roleAssignmentsPerSubscription !== undefined) {
    const limit = settings.roleAssignmentsPerSubscription;
    roleAssignments = await readWithRetry(async () => {
      let used = 0;
      for await (const _ of deps.clients.authorization.roleAssignments.listForSubscription()) used++;
      return { used, limit, needed: needs.roleAssignments };
    });
  }
  return {
    room: {
      subscriptionId: deps.context.subscriptionId,
      region: wanted,
      ...(environments ? { environments } : {}),
      ...(roleAssignments ? { roleAssignments } : {}),
      fits: !overrun(environments) && !overrun(roleAssignments),
    },
    environments: names,
  };
}

/** The longest a claim counts: longer than any install takes to create what it claimed. */
export const CLAIM_TTL_MS = 60 * 60 * 1000;

/**
 * Placement's promises, so that installs placed at the same moment do not all take the last room:
 * each new slug's choice is claimed in a ledger per subscription and region (ETag-guarded, shared
 * by every broker instance). A claim counts until its install has ended (the slug's record leaves
 * `installing`: what it created is in Azure's counts from then on), its environment only until
 * Azure lists it, and all of it for an hour at most (a slug refused after placement). Role
 * assignments the install already made count twice while it runs: on the safe side.
 */
export interface PlacementClaims {
  /**
   * The room with the other installs' pending claims counted; with `write`, and when it fits,
   * the slug's own claim is recorded in the same guarded write.
   */
  reserve(request: {
    slug: string;
    needs: PlacementNeeds;
    listed: ListedRoom;
    write: boolean;
  }): Promise<SubscriptionRoom>;
}

const withPending = (room: QuotaRoom | undefined, pending: number): QuotaRoom | undefined =>
  room && pending > 0 ? { ...room, used: room.used + pending, pending } : room;

/** Claims kept in Shire's records (`placements/<subscription>/<region>.json`). */
export function ledgerClaims(store: OperationStore, now: () => number = Date.now): PlacementClaims {
  return {
    reserve: async ({ slug, needs, listed, write }) => {
      const { subscriptionId, region } = listed.room;
      const ended = await endedClaims(store, (await store.getPlacementLedger(subscriptionId, region))?.claims ?? {});
      return store.decidePlacement(subscriptionId, region, (ledger) => {
        const at = now();
        const claims: Record<string, PlacementClaim> = {};
        for (const [other, claim] of Object.entries(ledger?.claims ?? {}))
          if (at - Date.parse(claim.at) < CLAIM_TTL_MS && !ended.has(claimKey(other, claim))) claims[other] = claim;
        const others = Object.entries(claims).filter(([other]) => other !== slug);
        const unlisted = others.filter(([, claim]) => !listed.environments.has(claim.environment.toLowerCase()));
        const environments = withPending(listed.room.environments, unlisted.length);
        const roleAssignments = withPending(
          listed.room.roleAssignments,
          others.reduce((sum, [, claim]) => sum + claim.roleAssignments, 0),
        );
        const room: SubscriptionRoom = {
          ...listed.room,
          ...(environments ? { environments } : {}),
          ...(roleAssignments ? { roleAssignments } : {}),
          fits: !overrun(environments) && !overrun(roleAssignments),
        };
        if (!write || !room.fits) return { answer: room };
        claims[slug] = {
          environment: needs.environmentName,
          roleAssignments: needs.roleAssignments,
          at: new Date(at).toISOString(),
        };
        return { next: { subscriptionId, region, claims }, answer: room };
      });
    },
  };
}

/**
 * One candidate's room for a slug: Azure's lists, and with `claims` the other installs' pending
 * claims too (the slug's own claim made when `claim.write` and it fits). A quota not checked
 * (`unlimited`) has nothing to claim.
 */
export async function roomFor(request: {
  deps: ActivityDeps;
  region: string;
  needs: PlacementNeeds;
  settings: PlacementSettings;
  claims?: PlacementClaims;
  claim?: { slug: string; write: boolean };
}): Promise<SubscriptionRoom> {
  const { claims, claim, needs } = request;
  const listed = await subscriptionRoom(request.deps, request.region, needs, request.settings);
  const checked = listed.room.environments || listed.room.roleAssignments;
  return checked && claims && claim
    ? claims.reserve({ slug: claim.slug, needs, listed, write: claim.write })
    : listed.room;
}

export type Placement =
  { ok: true; subscriptionId: string; rooms: SubscriptionRoom[] } | { ok: false; response: HttpResponseInit };

export interface PlacementRequest {
  slug: string;
  region: string;
  /** The subscription the slug's record holds (it stays there). */
  recorded?: string;
  /** The subscription the install request named. */
  requested?: string;
  /** What the slug would add to a candidate (its plan depends on the subscription). */
  needsFor: (subscriptionId: string) => PlacementNeeds;
  settings: PlacementSettings;
  depsFor: (subscriptionId: string) => ActivityDeps;
  /**
   * Claims of other installs placed at the same moment (absent: Azure's lists only). A new slug's
   * choice is claimed with `reserve`; the dry run counts claims without making one.
   */
  claims?: PlacementClaims;
  reserve?: boolean;
}

/**
 * Where the slug's footprint goes. A recorded placement is kept (a request naming another is
 * refused) and checked for what the plan still adds; a new slug goes to the first subscription
 * of the pool that serves its region and has room (or the one it named, if that has room).
 */
export async function choosePlacement(request: PlacementRequest): Promise<Placement> {
  const { slug, settings } = request;
  const region = normalizeRegion(request.region);
  const requested = request.requested;
  const recorded = request.recorded;
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  if (recorded && requested && !same(recorded, requested))
    return {
      ok: false,
      response: apiError(
        409,
        "PlacementFixed",
        `Slug '${slug}' is placed in subscription ${recorded}; a slug's subscription never changes after its first install. Nothing was changed.`,
        { subscriptionId: recorded, requested },
      ),
    };

  let candidates: string[];
  if (recorded) candidates = [recorded];
  else {
    const serving = settings.pool.filter((entry) => !entry.regions || entry.regions.includes(region));
    if (requested && !settings.pool.some((entry) => same(entry.subscriptionId, requested)))
      return refuse(
        400,
        "PlacementNotInPool",
        `Subscription ${requested} is not in the placement pool (${settings.pool.map((entry) => entry.subscriptionId).join(", ")}). Nothing was changed.`,
        { requested },
      );
    candidates = (requested ? serving.filter((entry) => same(entry.subscriptionId, requested)) : serving).map(
      (entry) => entry.subscriptionId,
    );
    if (candidates.length === 0)
      return refuse(
        400,
        "PlacementNoRegion",
        `No subscription of the placement pool${requested ? ` named ${requested}` : ""} takes slugs in ${region}: the pool serves ${describePool(settings)}. Nothing was changed.`,
        { region },
      );
  }

  const rooms: SubscriptionRoom[] = [];
  for (const subscriptionId of candidates) {
    // A placed slug's room is its own to use: only a new slug claims (and sees others' claims).
    const room = await roomFor({
      deps: request.depsFor(subscriptionId),
      region,
      needs: request.needsFor(subscriptionId),
      settings,
      ...(recorded ? {} : { claims: request.claims, claim: { slug, write: request.reserve === true } }),
    });
    rooms.push(room);
    if (room.fits) return { ok: true, subscriptionId, rooms };
  }

  return refuse(
    422,
    "PlacementPoolFull",
    `No room for slug '${slug}' in ${region}: ${rooms.map(describeRoom).join("; ")}. Nothing was changed. ${
      recorded
        ? "The slug stays in its subscription: make room there (or raise the quota with Azure and the matching setting)."
        : "Add a subscription to SHIRE_PLACEMENT_POOL, make room, or raise a quota with Azure and the matching setting."
    }`,
    { region, candidates: rooms },
  );
}

function refuse(status: number, code: string, message: string, details: unknown): Placement {
  return { ok: false, response: apiError(status, code, message, details) };
}

function describePool(settings: PlacementSettings): string {
  return settings.pool
    .map((entry) => `${entry.subscriptionId} (${entry.regions ? entry.regions.join(", ") : "any region"})`)
    .join(", ");
}

function describeRoom(room: SubscriptionRoom): string {
  const full: string[] = [];
  const { environments, roleAssignments } = room;
  if (environments && overrun(environments))
    full.push(`${environments.used} of ${environments.limit} Container Apps environments in ${room.region}`);
  if (roleAssignments && overrun(roleAssignments))
    full.push(
      `${roleAssignments.used} of ${roleAssignments.limit} role assignments, ${roleAssignments.needed} more needed`,
    );
  return `subscription ${room.subscriptionId} has ${full.join(" and ")}`;
}
