/**
 * The Teams app package of an installed slug, as a Teams admin uploads it: a zip whose manifest
 * validates against the Teams schema it names (from Microsoft's @microsoft/app-manifest), with the
 * slug's bot app id (its managed identity's client id; test/e2e/bot-identity.test.ts has both
 * kinds), its tab pages and two icons of the sizes Teams requires.
 */
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { unzipSync } from "fflate";
import Ajv from "ajv-draft-04";
import addFormats from "ajv-formats";
import { install } from "./harness";
import { useInstallHost } from "../fixtures/install-host";
import { TEAMS_MANIFEST_VERSION } from "../../src/model/teams-app";

const shire = useInstallHost();

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Anything = any;

function schema(): object {
  const file = require.resolve(
    `@microsoft/app-manifest/build/json-schemas/teams/v${TEAMS_MANIFEST_VERSION}/MicrosoftTeams.schema.json`,
  );
  return JSON.parse(fs.readFileSync(file, "utf8")) as object;
}

/** A PNG's width and height, from its IHDR chunk. */
function pngSize(png: Uint8Array): [number, number] {
  const buffer = Buffer.from(png);
  expect(buffer.subarray(1, 4).toString("ascii")).toBe("PNG");
  return [buffer.readUInt32BE(16), buffer.readUInt32BE(20)];
}

describe("GET /api/slugs/{slug}/teams-app", () => {
  it("answers the package: a manifest valid against its schema, the slug's bot and tab, both icons", async () => {
    expect((await install(shire.url, "teamsy")).status).toBe("succeeded");
    const response = await fetch(`${shire.url}/api/slugs/teamsy/teams-app`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/zip");
    const files = unzipSync(new Uint8Array(await response.arrayBuffer()));
    expect(Object.keys(files).sort()).toEqual(["color.png", "manifest.json", "outline.png"]);
    const manifest = JSON.parse(Buffer.from(files["manifest.json"]).toString("utf8")) as Anything;

    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    const validate = ajv.compile(schema());
    expect(validate(manifest), JSON.stringify(validate.errors)).toBe(true);
    expect(manifest.manifestVersion).toBe(TEAMS_MANIFEST_VERSION);

    // The bot is the slug's managed identity: its client id is the bot's app id.
    const identity = (shire.sandbox.inspect() as { arm: { resources: Anything[] } }).arm.resources.find(
      (resource) =>
        resource.type === "Microsoft.ManagedIdentity/userAssignedIdentities" && resource.id.includes("claw-teamsy"),
    );
    expect(manifest.bots[0].botId).toBe(identity.properties.clientId);
    const bot = (shire.sandbox.inspect() as { arm: { resources: Anything[] } }).arm.resources.find(
      (resource) => resource.type === "Microsoft.BotService/botServices" && resource.id.includes("claw-teamsy"),
    );
    expect(bot.properties.msaAppId).toBe(identity.properties.clientId);
    const account = (shire.sandbox.inspect() as { arm: { resources: Anything[] } }).arm.resources.find(
      (resource) => resource.type === "Microsoft.Storage/storageAccounts" && resource.id.includes("claw-teamsy"),
    );
    expect(manifest.configurableTabs[0].configurationUrl).toBe(account.properties.primaryEndpoints.web);
    expect(manifest.staticTabs[0].contentUrl).toBe(`${account.properties.primaryEndpoints.web}tab.html`);
    expect(manifest.validDomains).toContain(new URL(account.properties.primaryEndpoints.web).host);
    expect(pngSize(files["color.png"])).toEqual([192, 192]);
    expect(pngSize(files["outline.png"])).toEqual([32, 32]);

    // The same slug, the same Teams app id (an upload updates it); the version grows with operations.
    const again = unzipSync(
      new Uint8Array(await (await fetch(`${shire.url}/api/slugs/teamsy/teams-app`)).arrayBuffer()),
    );
    expect(JSON.parse(Buffer.from(again["manifest.json"]).toString("utf8")).id).toBe(manifest.id);
  }, 120_000);

  it("says how to turn Teams on for a slug without it, and 404 for a slug Shire does not know", async () => {
    expect((await install(shire.url, "quiet", { channels: { teams: { enabled: false } } })).status).toBe("succeeded");
    const none = await fetch(`${shire.url}/api/slugs/quiet/teams-app`);
    expect(none.status).toBe(409);
    expect(((await none.json()) as Anything).error.code).toBe("TeamsNotInstalled");
    expect((await fetch(`${shire.url}/api/slugs/nobody/teams-app`)).status).toBe(404);
  }, 120_000);
});
