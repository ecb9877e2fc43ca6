import { describe, expect, it } from "vitest";
import { teamsBotIdentityOf, type SlugSpec } from "../../src/model/spec";
import { validateInstallRequest, withRecordedBotIdentity } from "../../src/model/validate";
import { planSlug, type PlanContext } from "../../src/model/plan";
import type { AppliedState } from "../../src/operations/records";
import { rotatable, rotationTargets, validateRotateRequest } from "../../src/operations/rotation";

function validated(body: unknown) {
  const result = validateInstallRequest("demo", body);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result;
}

/** A Teams spec recorded before `teamsBotIdentity` existed: its bot was an app registration. */
function recordedBeforeBotIdentities(): SlugSpec {
  const spec = structuredClone(validated({}).spec);
  delete spec.channels.teamsBotIdentity;
  return spec;
}

describe("the Teams bot's identity in a spec", () => {
  it("defaults to the managed identity for Teams, names none without Teams, and refuses unknown values", () => {
    expect(validated({}).spec.channels.teamsBotIdentity).toBe("managedIdentity");
    expect(validated({}).named).toEqual({});
    const named = validated({ channels: { teams: { botIdentity: "appRegistration" } } });
    expect(named.spec.channels.teamsBotIdentity).toBe("appRegistration");
    expect(named.named).toEqual({ teamsBotIdentity: "appRegistration" });
    expect(validated({ channels: { teams: { enabled: false } } }).spec.channels).not.toHaveProperty("teamsBotIdentity");
    const wrong = validateInstallRequest("demo", { channels: { teams: { botIdentity: "password" } } });
    expect(wrong.ok ? [] : wrong.problems.map((problem) => problem.path)).toEqual(["channels.teams.botIdentity"]);
    const off = validateInstallRequest("demo", {
      channels: { teams: { enabled: false, botIdentity: "managedIdentity" } },
    });
    expect(off.ok ? [] : off.problems.map((problem) => problem.path)).toEqual(["channels.teams.botIdentity"]);
  });

  it("reads a spec recorded before the field existed as an app-registration bot", () => {
    expect(teamsBotIdentityOf(recordedBeforeBotIdentities())).toBe("appRegistration");
    expect(teamsBotIdentityOf(validated({}).spec)).toBe("managedIdentity");
    expect(teamsBotIdentityOf(validated({ channels: { teams: { enabled: false } } }).spec)).toBeUndefined();
  });
});

describe("withRecordedBotIdentity: an installed slug's bot keeps its identity", () => {
  const appRegistration = validated({ channels: { teams: { botIdentity: "appRegistration" } } }).spec;
  const managed = validated({}).spec;

  it("a new slug (or one with no Teams recorded) gets what the request asks, the default otherwise", () => {
    for (const recorded of [undefined, validated({ channels: { teams: { enabled: false } } }).spec]) {
      expect(withRecordedBotIdentity(validated({}), recorded)).toEqual({ ok: true, spec: managed });
      expect(
        withRecordedBotIdentity(validated({ channels: { teams: { botIdentity: "appRegistration" } } }), recorded),
      ).toEqual({ ok: true, spec: appRegistration });
    }
  });

  it("a request that names no identity keeps the recorded one, including an implied app registration", () => {
    for (const recorded of [appRegistration, recordedBeforeBotIdentities()]) {
      const kept = withRecordedBotIdentity(validated({ image: "ghcr.io/openclaw/openclaw:2026.9.5" }), recorded);
      expect(kept.ok && kept.spec.channels.teamsBotIdentity).toBe("appRegistration");
      expect(kept.ok && kept.spec.image).toBe("ghcr.io/openclaw/openclaw:2026.9.5");
    }
    const kept = withRecordedBotIdentity(validated({}), managed);
    expect(kept.ok && kept.spec.channels.teamsBotIdentity).toBe("managedIdentity");
  });

  it("naming the recorded identity is fine; naming the other one is refused with what to do", () => {
    expect(
      withRecordedBotIdentity(
        validated({ channels: { teams: { botIdentity: "appRegistration" } } }),
        recordedBeforeBotIdentities(),
      ),
    ).toEqual({ ok: true, spec: appRegistration });
    const toManaged = withRecordedBotIdentity(
      validated({ channels: { teams: { botIdentity: "managedIdentity" } } }),
      recordedBeforeBotIdentities(),
    );
    expect(toManaged.ok).toBe(false);
    expect(!toManaged.ok && toManaged.message).toMatch(
      /botIdentity 'appRegistration'.*'managedIdentity' is not supported: it needs a new Azure Bot and a new Teams app package/,
    );
    const toApp = withRecordedBotIdentity(
      validated({ channels: { teams: { botIdentity: "appRegistration" } } }),
      managed,
    );
    expect(!toApp.ok && toApp.message).toMatch(/Leave channels\.teams\.botIdentity out, or name 'managedIdentity'/);
  });

  it("turning Teams off is not a change of identity", () => {
    const off = validated({ channels: { teams: { enabled: false } } });
    expect(withRecordedBotIdentity(off, appRegistration)).toEqual({ ok: true, spec: off.spec });
  });
});

describe("rotation of a managed-identity bot", () => {
  const context: PlanContext = {
    subscriptionId: "00000000-0000-4000-8000-000000000001",
    tenantId: "00000000-0000-4000-8000-0000000000aa",
    brokerPrincipalId: "00000000-0000-4000-8000-0000000000b0",
    vaultUri: (name) => `https://${name}.vault.azure.net/`,
  };
  /** What an install of `body` applies, as rotation reads it (the secret nodes' desired states). */
  const appliedFor = (body: unknown): AppliedState => ({
    slug: "demo",
    updatedAt: "2026-12-01T00:00:00.000Z",
    nodes: Object.fromEntries(
      planSlug(validated(body).spec, context).nodes.map((node) => [
        node.id,
        { kind: node.kind, dependsOn: node.dependsOn, desired: node.desired, outputs: {}, operationId: "op" },
      ]),
    ),
  });

  it("has no bot password to rotate, and says why when asked for one; an app-registration bot's is rotated", () => {
    const managed = rotationTargets(appliedFor({}))!;
    expect(managed.secrets.map((secret) => secret.name)).not.toContain("teams-app-password");
    expect(rotatable(managed).map((secret) => secret.name)).toEqual([
      "entra-client-secret",
      "gateway-token",
      "storage-account-key",
    ]);
    const asked = validateRotateRequest({ secrets: ["teams-app-password"] }, managed);
    expect(asked.ok).toBe(false);
    expect(!asked.ok && asked.problems[0].message).toMatch(/managed identity has no password/);

    const registered = rotationTargets(appliedFor({ channels: { teams: { botIdentity: "appRegistration" } } }))!;
    expect(rotatable(registered).find((secret) => secret.name === "teams-app-password")?.kind).toBe("clientSecret");
  });
});
