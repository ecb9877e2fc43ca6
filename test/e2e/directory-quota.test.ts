/**
 * Entra's created-objects quota, end to end, with the sandbox's quota (and the broker's setting)
 * at 11 objects: two Teams slugs fill it exactly; the next install is refused before anything is
 * written, with used, limit and needed, and the plan says so too; a re-install of a slug that
 * exists (creating nothing) is still accepted with the quota full.
 */
import { describe, expect, it } from "vitest";
import { install, postJson } from "./harness";
import { useInstallHost } from "../fixtures/install-host";

const LIMIT = 11;
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
    // The first Teams slug creates six objects (shire-admins once, the sign-in app and its service
    // principal, the slug group, the bot's app and its service principal), each next one five.
    expect((await install(shire.url, "qa", TEAMS, 120_000)).status).toBe("succeeded");
    expect((await install(shire.url, "qb", TEAMS, 120_000)).status).toBe("succeeded");

    const plan = await postJson(`${shire.url}/api/slugs/qc/plan`, TEAMS);
    expect(plan.status).toBe(200);
    expect(plan.body.directoryQuota).toMatchObject({ used: 11, limit: LIMIT, needed: 5, fits: false });

    const objectsBefore = graphObjects().length;
    const mark = shire.mark();
    const refused = await postJson(`${shire.url}/api/slugs/qc/install`, TEAMS);
    expect(refused.status).toBe(422);
    const error = refused.body.error as { code: string; message: string; details: Record<string, unknown> };
    expect(error.code).toBe("DirectoryQuotaExceeded");
    expect(error.message).toContain("used 11 of the 11");
    expect(error.details).toMatchObject({ used: 11, limit: LIMIT, needed: 5 });
    expect(error.details.objects).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^application shire-qc-\w+$/),
        expect.stringMatching(/^group shire-qc-\w+$/),
        expect.stringMatching(/^application shire-qc-\w+-bot$/),
      ]),
    );
    // Nothing written: no request that changes anything reached the sandbox, no group, no Entra object.
    expect(shire.writesSince(mark)).toEqual([]);
    expect(armIds().filter((id) => id.toLowerCase().includes("/resourcegroups/claw-qc"))).toEqual([]);
    expect(graphObjects()).toHaveLength(objectsBefore);
    expect(graphObjects().filter((object) => /shire-qc/.test(object.displayName ?? ""))).toEqual([]);
    // The refusal started no operation: the slug is unknown to Shire.
    expect((await fetch(`${shire.url}/api/slugs/qc`)).status).toBe(404);

    // Without Teams the slug needs three, which do not fit either.
    const smaller = await postJson(`${shire.url}/api/slugs/qc/install`, { channels: { teams: { enabled: false } } });
    expect(smaller.status).toBe(422);
    expect((smaller.body.error as { details: unknown }).details).toMatchObject({ used: 11, needed: 3 });

    // The quota is full; a re-install of a slug that exists creates no directory object: accepted.
    const again = await install(shire.url, "qa", TEAMS, 120_000);
    expect(again.status).toBe("succeeded");
    const existingPlan = await postJson(`${shire.url}/api/slugs/qa/plan`, TEAMS);
    expect(existingPlan.body.directoryQuota).toMatchObject({ used: 11, needed: 0, fits: true });
  }, 300_000);
});
