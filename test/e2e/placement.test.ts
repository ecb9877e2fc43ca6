/**
 * Placement across subscriptions, end to end: a pool of two sandbox subscriptions with one
 * Container Apps environment each per region (the sandbox and the broker both set to 1, so a
 * pool fills in two installs). A slug goes to the first subscription with room for its region,
 * is recorded there, and every later operation (rotate, upgrade, drift, export, teardown) works
 * there; a full pool, a subscription outside it, and a move are refused before anything is
 * written.
 */
import { describe, expect, it } from "vitest";
import { SANDBOX_SUBSCRIPTION_IDS } from "../../src/azure/credential";
import type { SlugRecord } from "../../src/operations/records";
import { useInstallHost } from "../fixtures/install-host";
import { getJson, install, postJson, slugDrift, waitForOperation, type OperationView } from "./harness";

const [FIRST, SECOND, OUTSIDE] = SANDBOX_SUBSCRIPTION_IDS;
const POOL = [
  { subscriptionId: FIRST, regions: ["westeurope"] },
  { subscriptionId: SECOND, regions: ["westeurope", "northeurope"] },
];
const OLDER = "ghcr.io/openclaw/openclaw:2026.9.5";

const shire = useInstallHost({
  env: {
    SHIRE_PLACEMENT_POOL: JSON.stringify(POOL),
    SHIRE_ENVIRONMENTS_PER_REGION: "1",
    SHIRE_UPGRADE_GATE_TIMEOUT_MS: "5000",
    SHIRE_UPGRADE_GATE_POLL_MS: "200",
  },
});

const armIds = () =>
  (shire.sandbox.inspect() as { arm: { resources: { id: string }[] } }).arm.resources.map((r) => r.id.toLowerCase());
const inGroupOf = (slug: string) => armIds().filter((id) => id.includes(`/resourcegroups/claw-${slug}`));
const slugRecord = async (slug: string) => (await getJson<SlugRecord>(`${shire.url}/api/slugs/${slug}`)).body;

async function operation(slug: string, route: string, body: unknown): Promise<OperationView> {
  const started = await postJson(`${shire.url}/api/slugs/${slug}/${route}`, body);
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return waitForOperation(shire.url, String(started.body.operationId), 120_000);
}

interface Refusal {
  code: string;
  message: string;
  details: Record<string, unknown>;
}
const errorOf = (response: { body: Record<string, unknown> }) => response.body.error as Refusal;

describe("placement across subscriptions", () => {
  it("places each slug where quota allows, keeps it there, and refuses a full pool before writing", async () => {
    shire.sandbox.setFaults({ environmentsPerRegion: 1 });
    const first = await install(shire.url, "pa", {}, 120_000);
    expect(first.status, JSON.stringify(first.steps)).toBe("succeeded");
    expect((await slugRecord("pa")).subscriptionId).toBe(FIRST);
    expect(inGroupOf("pa").every((id) => id.startsWith(`/subscriptions/${FIRST}/`))).toBe(true);

    // The first subscription's one environment in westeurope is taken: the next slug goes to the second.
    const plan = await postJson(`${shire.url}/api/slugs/pb/plan`, { channels: { teams: { enabled: true } } });
    expect(plan.status, JSON.stringify(plan.body)).toBe(200);
    expect(plan.body.placement).toMatchObject({
      subscriptionId: SECOND,
      rooms: [
        { subscriptionId: FIRST, environments: { used: 1, limit: 1, needed: 1 }, fits: false },
        { subscriptionId: SECOND, environments: { used: 0, limit: 1, needed: 1 }, fits: true },
      ],
    });
    const second = await install(shire.url, "pb", { channels: { teams: { enabled: true } } }, 120_000);
    expect(second.status, JSON.stringify(second.steps)).toBe("succeeded");
    expect((await slugRecord("pb")).subscriptionId).toBe(SECOND);
    const placed = inGroupOf("pb");
    expect(placed.length).toBeGreaterThan(5);
    expect(placed.filter((id) => !id.startsWith(`/subscriptions/${SECOND}/`))).toEqual([]);

    // What the next install would see, read only: both westeurope rooms full, nothing to claim.
    const viewMark = shire.mark();
    const view = await getJson<Record<string, unknown>>(`${shire.url}/api/placement?region=westeurope`);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({
      region: "westeurope",
      limits: { environmentsPerRegion: 1 },
      subscriptions: [
        { subscriptionId: FIRST, serves: true, environments: { used: 1, limit: 1 }, fits: false },
        { subscriptionId: SECOND, serves: true, environments: { used: 1, limit: 1 }, fits: false },
      ],
      nextSubscriptionId: null,
    });
    const north = await getJson<Record<string, unknown>>(`${shire.url}/api/placement?region=northeurope`);
    expect(north.body).toMatchObject({
      subscriptions: [
        { subscriptionId: FIRST, serves: false },
        { subscriptionId: SECOND, serves: true, fits: true },
      ],
      nextSubscriptionId: SECOND,
    });
    expect(shire.writesSince(viewMark)).toEqual([]);

    // Both subscriptions have their one westeurope environment: refused, with what each has, nothing written.
    const mark = shire.mark();
    const full = await postJson(`${shire.url}/api/slugs/pc/install`, {});
    expect(full.status).toBe(422);
    expect(errorOf(full).code).toBe("PlacementPoolFull");
    expect(errorOf(full).message).toContain(
      `subscription ${SECOND} has 1 of 1 Container Apps environments in westeurope`,
    );
    expect(errorOf(full).details.candidates).toHaveLength(2);
    const outside = await postJson(`${shire.url}/api/slugs/pc/install`, { subscriptionId: OUTSIDE });
    expect(outside.status).toBe(400);
    expect(errorOf(outside).code).toBe("PlacementNotInPool");
    const unserved = await postJson(`${shire.url}/api/slugs/pc/install`, { region: "uksouth" });
    expect(unserved.status).toBe(400);
    expect(errorOf(unserved).code).toBe("PlacementNoRegion");
    expect(shire.writesSince(mark)).toEqual([]);
    expect(inGroupOf("pc")).toEqual([]);
    expect((await fetch(`${shire.url}/api/slugs/pc`)).status).toBe(404);

    // Another region has room in the only subscription that serves it.
    const northern = await install(shire.url, "pc", { region: "northeurope" }, 120_000);
    expect(northern.status, JSON.stringify(northern.steps)).toBe("succeeded");
    expect((await slugRecord("pc")).subscriptionId).toBe(SECOND);

    // A placed slug never moves: naming another subscription is refused; the same spec converges where it is.
    const move = await postJson(`${shire.url}/api/slugs/pb/install`, {
      subscriptionId: FIRST,
      channels: { teams: { enabled: true } },
    });
    expect(move.status).toBe(409);
    expect(errorOf(move).code).toBe("PlacementFixed");

    // Every other operation finds the slug where it was placed.
    expect((await operation("pb", "rotate", {})).status).toBe("succeeded");
    const upgraded = await operation("pb", "upgrade", { image: OLDER });
    expect(upgraded.status, JSON.stringify(upgraded.steps)).toBe("succeeded");
    expect((await slugDrift(shire.url, "pb")).drifted).toEqual([]);
    const exported = await fetch(`${shire.url}/api/slugs/pb/template`);
    expect(exported.status).toBe(200);
    const template = JSON.stringify(await exported.json());
    expect(template).not.toContain(FIRST);
    const torn = await operation("pb", "teardown", { confirm: "pb", purge: true });
    expect(torn.status, JSON.stringify(torn.steps)).toBe("succeeded");
    expect(inGroupOf("pb")).toEqual([]);
    // The slug keeps its subscription on record, destroyed or not.
    expect(await slugRecord("pb")).toMatchObject({ state: "destroyed", subscriptionId: SECOND });
  }, 600_000);
});
