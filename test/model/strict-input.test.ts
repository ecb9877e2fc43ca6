/**
 * Install requests are read strictly: a wrong type is refused, never taken as a default; the
 * unknown-field check is not fooled by prototype names; lists have bounds; reserved slugs and
 * images from registries the operator has not allowed are refused. Every problem is listed.
 */
import { describe, expect, it } from "vitest";
import {
  MAX_ALLOWED_IDENTITIES,
  OFFICIAL_REPOSITORY,
  validateInstallRequest,
  validateSlug,
  validationSettingsFromEnv,
} from "../../src/model/validate";

const settings = validationSettingsFromEnv({});
const paths = (body: unknown, slug = "demo") => {
  const result = validateInstallRequest(slug, body, settings);
  return result.ok ? [] : result.problems.map((problem) => problem.path);
};
const guid = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;

describe("strict install input", () => {
  it("refuses wrong types instead of taking a default", () => {
    // `"teams": false` used to read as Teams on: the shape is {"enabled": false}.
    expect(paths({ channels: { teams: false } })).toEqual(["channels.teams"]);
    expect(paths({ channels: "teams" })).toEqual(["channels"]);
    expect(paths({ channels: 5 })).toEqual(["channels"]);
    expect(paths({ channels: null })).toEqual(["channels"]);
    expect(paths({ channels: { teams: { enabled: "false" } } })).toEqual(["channels.teams.enabled"]);
    expect(paths({ resources: "big" })).toEqual(["resources"]);
    expect(paths({ resources: null })).toEqual(["resources"]);
    expect(paths({ region: 7 })).toEqual(["region"]);
    expect(paths({ image: null })).toEqual(["image"]);
    expect(paths({ allowedIdentities: "x" })).toEqual(["allowedIdentities"]);
    expect(paths({ allowedIdentities: [guid(1), 2] })).toEqual(["allowedIdentities[1]"]);
    expect(paths({ tags: ["a"] })).toEqual(["tags"]);
    expect(paths({ tags: { team: 1 } })).toEqual(["tags.team"]);
    expect(paths([])).toEqual([""]);
    expect(paths("{}")).toEqual([""]);
    expect(paths(null)).toEqual([""]);
    // What is right still is: an explicit Teams off, and every default.
    const off = validateInstallRequest("demo", { channels: { teams: { enabled: false } } }, settings);
    expect(off.ok && off.spec.channels.teams).toBe(false);
    expect(validateInstallRequest("demo", undefined, settings).ok).toBe(true);
  });

  it("is not fooled by prototype names in the unknown-field check", () => {
    for (const name of ["constructor", "toString", "hasOwnProperty", "__proto__", "valueOf"]) {
      expect(paths(JSON.parse(`{"${name}": 1}`)), name).toEqual([name]);
      expect(paths(JSON.parse(`{"channels": {"${name}": 1}}`)), name).toEqual([`channels.${name}`]);
      expect(paths(JSON.parse(`{"resources": {"${name}": 1}}`)), name).toEqual([`resources.${name}`]);
    }
    // A tag named like a prototype member is data, except __proto__ (an object key JSON cannot safely hold).
    expect(paths({ tags: { constructor: "x" } })).toEqual([]);
    expect(paths(JSON.parse('{"tags": {"__proto__": "x"}}'))).toEqual(["tags.__proto__"]);
  });

  it("bounds the list of allowed identities", () => {
    const many = Array.from({ length: MAX_ALLOWED_IDENTITIES }, (_, i) => guid(i));
    expect(paths({ allowedIdentities: many })).toEqual([]);
    expect(paths({ allowedIdentities: [...many, guid(MAX_ALLOWED_IDENTITIES)] })).toEqual(["allowedIdentities"]);
  });

  it("refuses reserved slugs", () => {
    for (const slug of ["admins", "broker", "shire", "claw-x", "claw-prod"]) {
      expect(
        validateSlug(slug).map((problem) => problem.path),
        slug,
      ).toEqual(["slug"]);
      expect(paths({}, slug), slug).toEqual(["slug"]);
    }
    expect(validateSlug("clawx")).toEqual([]);
  });

  it("takes images only from allowed registries: the official one by default, the shared registry and SHIRE_ALLOWED_REGISTRIES", () => {
    expect(settings.allowedRegistries).toEqual([OFFICIAL_REPOSITORY]);
    expect(paths({ image: "ghcr.io/openclaw/openclaw:2026.9.6" })).toEqual([]);
    for (const image of [
      "docker.io/openclaw/openclaw:2026.9.6",
      "openclaw/openclaw:2026.9.6",
      "ghcr.io/evil/openclaw:2026.9.6",
      "ghcr.io/openclaw/openclaw-fork:2026.9.6",
      "myacr.azurecr.io/openclaw/openclaw:2026.9.6",
    ])
      expect(paths({ image }), image).toEqual(["image"]);
    const widened = validationSettingsFromEnv({
      SHIRE_SHARED_REGISTRY_LOGIN_SERVER: "shire.azurecr.io",
      SHIRE_ALLOWED_REGISTRIES: "docker.io/openclaw/openclaw, myacr.azurecr.io/",
    });
    for (const image of [
      "shire.azurecr.io/openclaw/openclaw:2026.9.6-teams",
      "openclaw/openclaw:2026.9.6",
      "myacr.azurecr.io/team/openclaw:2026.9.6",
    ])
      expect(validateInstallRequest("demo", { image }, widened).ok, image).toBe(true);
  });

  it("lists every problem at once", () => {
    expect(
      paths({
        region: "mars",
        channels: { teams: true, telegram: { mode: "carrier-pigeon" } },
        resources: { cpu: "x" },
        colour: "blue",
      }).sort(),
    ).toEqual(["channels.teams", "channels.telegram.mode", "colour", "region", "resources.cpu"].sort());
  });
});
