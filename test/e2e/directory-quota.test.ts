/**
 * Entra's created-objects quota, end to end, with the sandbox's quota (and the broker's setting)
 * scaled down from Entra's 250: shire-admins once, then three objects per Teams slug (the sign-in
 * app, its service principal, the slug group; the bot is the slug's managed identity), so a limit
 * of 1 + 3 x 3 holds exactly three Teams slugs, as 250 holds 83. The next install is refused before
 * anything is written, with used, limit and needed, and the plan says so too; a re-install of a
 * slug that exists (creating nothing) is still accepted with the quota full.
 */
import { describe, expect, it } from "vitest";
import { install, postJson, waitForOperation } from "./harness";
import { useInstallHost } from "../fixtures/install-host";
import { DEFAULT_DIRECTORY_OBJECT_QUOTA } from "../../src/api/directory-quota";

/** shire-admins, made by the first install only. */
const SHARED_OBJECTS = 1;
const OBJECTS_PER_TEAMS_SLUG = 3;
const FITTING_SLUGS = 3;
const LIMIT = SHARED_OBJECTS + FITTING_SLUGS * OBJECTS_PER_TEAMS_SLUG;
const TEAMS = { channels: { teams: { enabled: true } } };
const shire = useInstallHost({ env: { SHIRE_DIRECTORY_OBJECT_QUOTA: String(LIMIT) } });

interface GraphView {
  kind: string;
  displayName?: string;
  uniqueName?: string;
  createdBy?: string;
  deleted: boolean;
}

const graphObjects = () => (shire.sandbox.inspect() as { graph: GraphView[] }).graph;
const armIds = () =>
  (shire.sandbox.inspect() as { arm: { resources: { id: string }[] } }).arm.resources.map((r) => r.id);

describe("the directory quota", () => {
  it("refuses the install that would pass it before writing anything; re-installs still run", async () => {
    shire.sandbox.setFaults({ directoryObjectQuota: LIMIT });
    // The first Teams slug creates four objects (shire-admins once, the sign-in app and its
    // service principal, the slug group), each next one three.
    expect((await install(shire.url, "qa", TEAMS, 120_000)).status).toBe("succeeded");
    // Three more asked at the same moment, with room for two: each accepted install claims its
    // three, so the third is refused up front (without claims all three would pass the check,
    // and one would meet Directory_QuotaExceeded halfway).
    const burst = await Promise.all(
      ["qb", "qx", "qy"].map(async (slug) => ({
        slug,
        answer: await postJson(`${shire.url}/api/slugs/${slug}/install`, TEAMS),
      })),
    );
    const accepted = burst.filter(({ answer }) => answer.status === 202);
    expect(accepted).toHaveLength(FITTING_SLUGS - 1);
    const [late] = burst.filter(({ answer }) => answer.status !== 202);
    expect(late.answer.status).toBe(422);
    expect(late.answer.body.error).toMatchObject({
      code: "DirectoryQuotaExceeded",
      details: { used: SHARED_OBJECTS + OBJECTS_PER_TEAMS_SLUG, pending: 2 * OBJECTS_PER_TEAMS_SLUG, limit: LIMIT },
    });
    for (const { answer } of accepted)
      expect((await waitForOperation(shire.url, String(answer.body.operationId), 120_000)).status).toBe("succeeded");
    expect((await fetch(`${shire.url}/api/slugs/${late.slug}`)).status).toBe(404);

    const plan = await postJson(`${shire.url}/api/slugs/qc/plan`, TEAMS);
    expect(plan.status).toBe(200);
    expect(plan.body.directoryQuota).toMatchObject({
      used: LIMIT,
      limit: LIMIT,
      needed: OBJECTS_PER_TEAMS_SLUG,
      fits: false,
    });
    // At Entra's 250 the same count holds 83 Teams slugs (it held 49 with five objects each).
    expect(Math.floor((DEFAULT_DIRECTORY_OBJECT_QUOTA - SHARED_OBJECTS) / OBJECTS_PER_TEAMS_SLUG)).toBe(83);
    // A bot on its own app registration would add its app and service principal.
    const withBotApp = await postJson(`${shire.url}/api/slugs/qc/plan`, {
      channels: { teams: { botIdentity: "appRegistration" } },
    });
    expect(withBotApp.body.directoryQuota).toMatchObject({ used: LIMIT, needed: OBJECTS_PER_TEAMS_SLUG + 2 });

    const objectsBefore = graphObjects().length;
    const mark = shire.mark();
    const refused = await postJson(`${shire.url}/api/slugs/qc/install`, TEAMS);
    expect(refused.status).toBe(422);
    const error = refused.body.error as { code: string; message: string; details: Record<string, unknown> };
    expect(error.code).toBe("DirectoryQuotaExceeded");
    expect(error.message).toContain(`used ${LIMIT} of the ${LIMIT}`);
    expect(error.details).toMatchObject({ used: LIMIT, limit: LIMIT, needed: OBJECTS_PER_TEAMS_SLUG });
    expect([...(error.details.objects as string[])].sort()).toEqual([
      expect.stringMatching(/^application shire-qc-\w+$/),
      expect.stringMatching(/^group shire-qc-\w+$/),
      expect.stringMatching(/^service principal of shire-qc-\w+$/),
    ]);
    // Nothing written: no request that changes anything reached the sandbox, no group, no Entra object.
    expect(shire.writesSince(mark)).toEqual([]);
    expect(armIds().filter((id) => id.toLowerCase().includes("/resourcegroups/claw-qc"))).toEqual([]);
    expect(graphObjects()).toHaveLength(objectsBefore);
    expect(graphObjects().filter((object) => /shire-qc/.test(object.displayName ?? ""))).toEqual([]);
    // The refusal started no operation: the slug is unknown to Shire.
    expect((await fetch(`${shire.url}/api/slugs/qc`)).status).toBe(404);

    // Without Teams the slug needs the same three: the bot adds no directory object.
    const smaller = await postJson(`${shire.url}/api/slugs/qc/install`, { channels: { teams: { enabled: false } } });
    expect(smaller.status).toBe(422);
    expect((smaller.body.error as { details: unknown }).details).toMatchObject({ used: LIMIT, needed: 3 });

    // The quota is full; a re-install of a slug that exists creates no directory object: accepted.
    const again = await install(shire.url, "qa", TEAMS, 120_000);
    expect(again.status).toBe("succeeded");
    const existingPlan = await postJson(`${shire.url}/api/slugs/qa/plan`, TEAMS);
    expect(existingPlan.body.directoryQuota).toMatchObject({ used: LIMIT, needed: 0, fits: true });
  }, 300_000);
});
