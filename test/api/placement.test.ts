/**
 * Placement's settings and its choice against the sandbox's subscriptions (the SDK clients the
 * broker uses): the pool's order, the role-assignment quota, a slug's recorded subscription, and
 * quotas set to `unlimited` costing no read.
 */
import { describe, expect, it } from "vitest";
import { slugRecord, useRecordStore } from "../fixtures/record-store";
import { createActivityDeps } from "../../activities/deps";
import { SANDBOX_BROKER_OBJECT_ID, SANDBOX_SUBSCRIPTION_IDS } from "../../src/azure/credential";
import {
  CLAIM_TTL_MS,
  choosePlacement,
  ledgerClaims,
  placementSettingsFromEnv,
  type PlacementClaims,
  type PlacementSettings,
} from "../../src/api/placement";
import { useSandbox } from "../fixtures/sandbox";

const [FIRST, SECOND, THIRD] = SANDBOX_SUBSCRIPTION_IDS;
const env = useSandbox();
const depsFor = (subscriptionId: string) =>
  createActivityDeps({ ...env.sandbox.context(), subscriptionId }, { brokerPrincipalId: SANDBOX_BROKER_OBJECT_ID });

const settings = (overrides: Partial<PlacementSettings>): PlacementSettings => ({
  pool: [{ subscriptionId: FIRST }, { subscriptionId: SECOND }],
  environmentsPerRegion: 15,
  roleAssignmentsPerSubscription: 4_000,
  ...overrides,
});
const place = (
  overrides: Partial<PlacementSettings>,
  request: { recorded?: string; requested?: string; slug?: string; claims?: PlacementClaims; reserve?: boolean } = {},
) =>
  choosePlacement({
    slug: request.slug ?? "px",
    region: "West Europe",
    needsFor: () => ({ environmentName: `cae-${request.slug ?? "px"}`, roleAssignments: 3 }),
    settings: settings(overrides),
    depsFor,
    ...request,
  });

const records = useRecordStore("placement");

interface Refusal {
  status: number | undefined;
  code: string;
  message: string;
  details: unknown;
}
const errorOf = (placement: Awaited<ReturnType<typeof place>>): Refusal => {
  if (placement.ok) throw new Error(`expected a refusal, got ${placement.subscriptionId}`);
  return {
    status: placement.response.status,
    ...(placement.response.jsonBody as { error: Omit<Refusal, "status"> }).error,
  };
};

describe("placement settings", () => {
  it("defaults to the broker's subscription in every region, with Azure's quotas", () => {
    expect(placementSettingsFromEnv(FIRST, {})).toEqual({
      pool: [{ subscriptionId: FIRST }],
      environmentsPerRegion: 15,
      roleAssignmentsPerSubscription: 4_000,
    });
  });

  it("reads the pool and quotas, and names what is wrong with them", () => {
    expect(
      placementSettingsFromEnv(FIRST, {
        SHIRE_PLACEMENT_POOL: JSON.stringify([{ subscriptionId: SECOND, regions: ["West Europe"] }]),
        SHIRE_ENVIRONMENTS_PER_REGION: "40",
        SHIRE_ROLE_ASSIGNMENTS_PER_SUBSCRIPTION: "unlimited",
      }),
    ).toEqual({
      pool: [{ subscriptionId: SECOND, regions: ["westeurope"] }],
      environmentsPerRegion: 40,
      roleAssignmentsPerSubscription: undefined,
    });
    const refused = (values: Record<string, string>) => () => placementSettingsFromEnv(FIRST, values);
    expect(refused({ SHIRE_PLACEMENT_POOL: "[{" })).toThrow(/not JSON/);
    expect(refused({ SHIRE_PLACEMENT_POOL: "[]" })).toThrow(/non-empty JSON array/);
    expect(refused({ SHIRE_PLACEMENT_POOL: '[{"subscriptionId":"prod"}]' })).toThrow(/\[0\]\.subscriptionId/);
    expect(
      refused({ SHIRE_PLACEMENT_POOL: JSON.stringify([{ subscriptionId: FIRST }, { subscriptionId: FIRST }]) }),
    ).toThrow(/twice/);
    expect(
      refused({ SHIRE_PLACEMENT_POOL: JSON.stringify([{ subscriptionId: FIRST, regions: "westeurope" }]) }),
    ).toThrow(/regions must be a list/);
    expect(refused({ SHIRE_ENVIRONMENTS_PER_REGION: "0" })).toThrow(/whole number above 0 or 'unlimited'/);
  });
});

describe("choosing a subscription", () => {
  it("takes the pool's first subscription with room, counting role assignments", async () => {
    // Each sandbox subscription starts with the broker's two grants; the slug needs three more.
    expect(await place({ roleAssignmentsPerSubscription: 5 })).toMatchObject({ ok: true, subscriptionId: FIRST });
    const full = errorOf(await place({ roleAssignmentsPerSubscription: 4 }));
    expect(full).toMatchObject({ status: 422, code: "PlacementPoolFull" });
    expect(full.message).toContain(`subscription ${FIRST} has 2 of 4 role assignments, 3 more needed`);
    expect(full.details).toMatchObject({
      candidates: [
        { subscriptionId: FIRST, roleAssignments: { used: 2, limit: 4, needed: 3 }, fits: false },
        { subscriptionId: SECOND, roleAssignments: { used: 2, limit: 4, needed: 3 }, fits: false },
      ],
    });
    // A request may name a subscription of the pool, not one outside it.
    expect(await place({}, { requested: SECOND })).toMatchObject({ ok: true, subscriptionId: SECOND });
    expect(errorOf(await place({}, { requested: THIRD }))).toMatchObject({ status: 400, code: "PlacementNotInPool" });
  });

  it("keeps a recorded subscription, even outside the pool, and refuses a move", async () => {
    expect(await place({}, { recorded: THIRD })).toMatchObject({ ok: true, subscriptionId: THIRD });
    expect(errorOf(await place({}, { recorded: THIRD, requested: FIRST }))).toMatchObject({
      status: 409,
      code: "PlacementFixed",
    });
    // Full where it is: refused, and it says the slug stays.
    const full = errorOf(await place({ roleAssignmentsPerSubscription: 2 }, { recorded: THIRD }));
    expect(full.code).toBe("PlacementPoolFull");
    expect(full.message).toContain("The slug stays in its subscription");
  });

  it("reads nothing for quotas set to unlimited", async () => {
    const before = env.sandbox.requestCount();
    expect(await place({ environmentsPerRegion: undefined, roleAssignmentsPerSubscription: undefined })).toMatchObject({
      ok: true,
      subscriptionId: FIRST,
      rooms: [{ subscriptionId: FIRST, fits: true }],
    });
    expect(env.sandbox.requestsSince(before)).toEqual([]);
  });

  it("claims room so that installs placed at the same moment fill one subscription, then the next", async () => {
    const claims = ledgerClaims(records.store);
    const slugs = Array.from({ length: 7 }, (_, index) => `burst-${index}`);
    const chosen = await Promise.all(
      slugs.map((slug) => place({ environmentsPerRegion: 3 }, { slug, claims, reserve: true })),
    );
    const where = chosen.map((placement) => (placement.ok ? placement.subscriptionId : placement.response.status));
    expect(where.filter((subscription) => subscription === FIRST)).toHaveLength(3);
    expect(where.filter((subscription) => subscription === SECOND)).toHaveLength(3);
    expect(where.filter((subscription) => subscription === 422)).toHaveLength(1);
    const full = chosen.find((placement) => !placement.ok)!;
    if (full.ok) throw new Error("unreachable");
    expect(JSON.stringify(full.response.jsonBody)).toContain('"pending":3');
    // The dry run counts the claims and makes none.
    const looked = await place({ environmentsPerRegion: 4 }, { slug: "look", claims, reserve: false });
    expect(looked).toMatchObject({
      ok: true,
      subscriptionId: FIRST,
      rooms: [{ environments: { used: 3, pending: 3 } }],
    });
    expect(await place({ environmentsPerRegion: 4 }, { slug: "look-2", claims, reserve: false })).toMatchObject({
      ok: true,
      subscriptionId: FIRST,
    });
  });

  it("stops counting a claim once Azure lists its environment, or after an hour", async () => {
    let now = Date.now();
    const claims = ledgerClaims(records.store, () => now);
    const subscription = THIRD;
    const only = { pool: [{ subscriptionId: subscription }], environmentsPerRegion: 1 };
    expect(await place(only, { slug: "early", claims, reserve: true })).toMatchObject({ ok: true });
    expect(errorOf(await place(only, { slug: "late", claims, reserve: true })).code).toBe("PlacementPoolFull");
    // An hour on, the claim of an install that never made its environment no longer holds the room.
    now += CLAIM_TTL_MS + 1;
    expect(await place(only, { slug: "late", claims, reserve: true })).toMatchObject({ ok: true });
    // Its environment made: Azure's count has it, the claim is not counted a second time.
    const clients = depsFor(subscription).clients;
    await clients.resources.resourceGroups.createOrUpdate("claw-late", { location: "westeurope" });
    const workspace = await clients.operationalInsights.workspaces.beginCreateOrUpdateAndWait("claw-late", "log-late", {
      location: "westeurope",
    });
    const keys = await clients.operationalInsights.sharedKeys.getSharedKeys("claw-late", "log-late");
    await clients.containerApps.managedEnvironments.beginCreateOrUpdateAndWait("claw-late", "cae-late", {
      location: "westeurope",
      appLogsConfiguration: {
        destination: "log-analytics",
        logAnalyticsConfiguration: { customerId: workspace.customerId, sharedKey: keys.primarySharedKey },
      },
    });
    const room = await place({ ...only, environmentsPerRegion: 2 }, { slug: "third", claims, reserve: false });
    expect(room).toMatchObject({ ok: true, rooms: [{ environments: { used: 1, limit: 2, needed: 1 } }] });
    // Its role assignments still count: the install makes them after its environment.
    expect(room).toMatchObject({ rooms: [{ roleAssignments: { pending: 3 } }] });
    // Once its install has ended, Azure's count has everything it made.
    await records.store.updateSlug("late", () => slugRecord("late", "installed", now));
    const ended = await place({ ...only, environmentsPerRegion: 2 }, { slug: "third", claims, reserve: false });
    if (!ended.ok) throw new Error("expected room");
    expect(ended.rooms[0].roleAssignments).not.toHaveProperty("pending");
  });

  it("stops counting a claim at once when its install ends without its environment", async () => {
    let now = Date.now();
    const claims = ledgerClaims(records.store, () => now);
    // The third subscription has one environment (the test before's): room for one more.
    const only = { pool: [{ subscriptionId: THIRD }], environmentsPerRegion: 2 };
    expect(await place(only, { slug: "doomed", claims, reserve: true })).toMatchObject({ ok: true });
    // Its record written as the install starts: still counting.
    now += 1_000;
    await records.store.updateSlug("doomed", () => slugRecord("doomed", "installing", now));
    expect(errorOf(await place(only, { slug: "next", claims, reserve: true })).code).toBe("PlacementPoolFull");
    // It failed before creating its environment: the room is free again, not after an hour.
    now += 1_000;
    await records.store.updateSlug("doomed", () => slugRecord("doomed", "failed", now));
    expect(await place(only, { slug: "next", claims, reserve: true })).toMatchObject({
      ok: true,
      subscriptionId: THIRD,
    });
  });
});
