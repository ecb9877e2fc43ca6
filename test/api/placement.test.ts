/**
 * Placement's settings and its choice against the sandbox's subscriptions (the SDK clients the
 * broker uses): the pool's order, the role-assignment quota, a slug's recorded subscription, and
 * quotas set to `unlimited` costing no read.
 */
import { describe, expect, it } from "vitest";
import { createActivityDeps } from "../../activities/deps";
import { SANDBOX_BROKER_OBJECT_ID, SANDBOX_SUBSCRIPTION_IDS } from "../../src/azure/credential";
import { choosePlacement, placementSettingsFromEnv, type PlacementSettings } from "../../src/api/placement";
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
const place = (overrides: Partial<PlacementSettings>, request: { recorded?: string; requested?: string } = {}) =>
  choosePlacement({
    slug: "px",
    region: "West Europe",
    needsFor: () => ({ environmentName: "cae-px", roleAssignments: 3 }),
    settings: settings(overrides),
    depsFor,
    ...request,
  });
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
});
