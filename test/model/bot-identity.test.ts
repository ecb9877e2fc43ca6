import { describe, expect, it } from "vitest";
import { teamsBotIdentityOf, type SlugSpec } from "../../src/model/spec";
import { validateInstallRequest, withRecordedBotIdentity } from "../../src/model/validate";

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
