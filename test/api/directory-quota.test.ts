/**
 * The directory quota's two figures against the sandbox's Graph, with the broker's credential:
 * what a Teams slug's install would still create (nothing that exists; a deleted app is restored,
 * its service principal is not), and what counts against the broker now (its live creations plus
 * Shire's objects in deleted items, until they are purged). A Teams slug's bot on its managed
 * identity adds no directory object; one on its own app registration adds two.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { resolveReferences } from "../../src/contract/reference";
import type { PlanNode } from "../../src/contract/resources";
import type { SlugPlan } from "../../src/model/plan";
import {
  directoryObjectsNeeded,
  directoryObjectsUsed,
  directoryQuotaFor,
  directoryQuotaFromEnv,
  quotaRefusal,
} from "../../src/api/directory-quota";
import { activityRunner } from "../fixtures/activities";
import { useSandbox } from "../fixtures/sandbox";
import { planOnSandbox } from "../fixtures/slug-footprint";

const azure = useSandbox();
let plan: SlugPlan;
const activities = activityRunner(azure, { operationId: "dq", slug: "dq", maxAttempts: 10 });
const entra = () => plan.nodes.filter((node) => node.kind === "entraApp" || node.kind === "entraGroup");
const node = (id: string) => plan.nodes.find((candidate) => candidate.id === id)!;
// The sign-in app's redirect URI waits on the environment's domain: any domain will do here.
const desired = (of: PlanNode) =>
  resolveReferences(of.desired as never, { managedEnvironment: { defaultDomain: "dq.example.io" } }) as never;
const ensure = (of: PlanNode) =>
  activities.must({ verb: "ensure", kind: of.kind, nodeId: of.id, desired: desired(of) });
const used = () => directoryObjectsUsed(azure.deps.graph(), azure.deps.brokerPrincipalId);

beforeAll(() => {
  plan = planOnSandbox(azure, "dq", { channels: { teams: { enabled: true } } }).plan;
});

describe("the directory quota's figures", () => {
  it("counts what an install would create, and what the broker has used, deleted objects included until purged", async () => {
    const before = await used();
    const needed = await directoryObjectsNeeded(plan, azure.deps);
    // shire-admins (once per tenant), the sign-in app and its service principal, the slug group:
    // the bot is the slug's managed identity, no directory object of the broker's.
    expect(needed).toHaveLength(4);
    expect(needed).toEqual(
      expect.arrayContaining([
        "group shire-admins",
        expect.stringMatching(/^application shire-dq-\w+$/),
        expect.stringMatching(/^service principal of shire-dq-\w+$/),
        expect.stringMatching(/^group shire-dq-\w+$/),
      ]),
    );
    expect(needed.filter((object) => object.endsWith("-bot"))).toEqual([]);
    // A bot on its own app registration would add its app and service principal.
    const withBotApp = planOnSandbox(azure, "dq", { channels: { teams: { botIdentity: "appRegistration" } } }).plan;
    expect(await directoryObjectsNeeded(withBotApp, azure.deps)).toEqual(
      expect.arrayContaining([
        ...needed,
        expect.stringMatching(/^application shire-dq-\w+-bot$/),
        expect.stringMatching(/^service principal of shire-dq-\w+-bot$/),
      ]),
    );
    expect(await directoryObjectsNeeded(withBotApp, azure.deps)).toHaveLength(6);

    for (const object of entra()) await ensure(object);
    expect(await directoryObjectsNeeded(plan, azure.deps)).toEqual([]);
    expect(await used()).toBe(before + 4);

    // Deleted, the sign-in app and its service principal still count; a re-install would restore
    // the app but has to make a new service principal.
    await activities.must({ verb: "remove", kind: "entraApp", nodeId: "entraApp", desired: desired(node("entraApp")) });
    expect(await used()).toBe(before + 4);
    expect(await directoryObjectsNeeded(plan, azure.deps)).toEqual([
      expect.stringMatching(/^service principal of shire-dq-\w+$/),
    ]);
    const quota = await directoryQuotaFor(plan, azure.deps, before + 4);
    expect(quota).toMatchObject({ used: before + 4, limit: before + 4, needed: 1, fits: false });
    expect(quotaRefusal("dq", quota)).toMatchObject({ status: 422 });
    expect(quotaRefusal("dq", await directoryQuotaFor(plan, azure.deps, before + 5))).toBeUndefined();

    // Purged, they stop counting, and the install needs both again.
    await activities.must({
      verb: "remove",
      kind: "entraApp",
      nodeId: "entraApp",
      desired: desired(node("entraApp")),
      purge: true,
    });
    expect(await used()).toBe(before + 2);
    expect(await directoryObjectsNeeded(plan, azure.deps)).toHaveLength(2);
  });

  it("reads the limit from SHIRE_DIRECTORY_OBJECT_QUOTA: 250 by default, unlimited skips the check", async () => {
    expect(directoryQuotaFromEnv({})).toBe(250);
    expect(directoryQuotaFromEnv({ SHIRE_DIRECTORY_OBJECT_QUOTA: "12" })).toBe(12);
    expect(directoryQuotaFromEnv({ SHIRE_DIRECTORY_OBJECT_QUOTA: "unlimited" })).toBeUndefined();
    expect(() => directoryQuotaFromEnv({ SHIRE_DIRECTORY_OBJECT_QUOTA: "lots" })).toThrow(
      expect.objectContaining({ code: "NotConfigured", statusCode: 503 }),
    );
    expect(await directoryQuotaFor(plan, azure.deps, undefined)).toBeUndefined();
  });
});
