/**
 * The Teams app package for a slug: what a Teams admin uploads (Teams admin center, or "Upload a
 * custom app") so people can chat with the slug's bot and add its tab. A zip of `manifest.json`
 * (schema v1.24), `color.png` (192x192) and `outline.png` (32x32, white on transparent). Pure: the
 * ids and URLs come from what the slug's install applied.
 */
import { createHash } from "node:crypto";
import { deflateSync, crc32 } from "node:zlib";
import { zipSync } from "fflate";

export const TEAMS_MANIFEST_VERSION = "1.24";

export interface TeamsAppInputs {
  slug: string;
  /** Makes the Teams app id unique to this broker's subscription (like the slug's global names). */
  subscriptionId: string;
  /** The Azure Bot's msaAppId: the slug's managed identity's client id, or the bot app's id. */
  botAppId: string;
  /** The tab's configuration page and its content page (the slug's static website). */
  configurationUrl: string;
  contentUrl: string;
  /** `https://<app fqdn>`: where the tab's launcher sends people. */
  appUrl: string;
  /** The package's own version (semver): Teams wants a higher one to update an uploaded app. */
  version?: string;
}

/** A name-based (v5-style) GUID: the same slug always has the same Teams app id. */
function teamsAppId(subscriptionId: string, slug: string): string {
  const bytes = createHash("sha1")
    .update(`shire-teams-app:${subscriptionId.toLowerCase()}|${slug}`)
    .digest()
    .subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function teamsManifest(inputs: TeamsAppInputs): Record<string, unknown> {
  const hosts = [
    ...new Set([inputs.configurationUrl, inputs.contentUrl, inputs.appUrl].map((url) => new URL(url).host)),
  ];
  return {
    $schema: `https://developer.microsoft.com/en-us/json-schemas/teams/v${TEAMS_MANIFEST_VERSION}/MicrosoftTeams.schema.json`,
    manifestVersion: TEAMS_MANIFEST_VERSION,
    version: inputs.version ?? "1.0.0",
    id: teamsAppId(inputs.subscriptionId, inputs.slug),
    developer: {
      name: "Shire",
      websiteUrl: inputs.appUrl,
      privacyUrl: inputs.appUrl,
      termsOfUseUrl: inputs.appUrl,
    },
    name: { short: `OpenClaw ${inputs.slug}`.slice(0, 30), full: `OpenClaw (${inputs.slug})` },
    description: {
      short: `OpenClaw for ${inputs.slug}`.slice(0, 80),
      full: `Chat with the ${inputs.slug} OpenClaw assistant, and open its Control UI from a tab.`,
    },
    icons: { color: "color.png", outline: "outline.png" },
    accentColor: "#3B5BDB",
    bots: [
      {
        botId: inputs.botAppId,
        scopes: ["personal", "team", "groupChat"],
        supportsFiles: false,
        isNotificationOnly: false,
      },
    ],
    configurableTabs: [
      { configurationUrl: inputs.configurationUrl, canUpdateConfiguration: true, scopes: ["team", "groupChat"] },
    ],
    staticTabs: [{ entityId: "openclaw", name: "OpenClaw", contentUrl: inputs.contentUrl, scopes: ["personal"] }],
    permissions: ["identity"],
    validDomains: hosts,
  };
}

/** A square PNG: a filled circle on transparent, RGBA, built with zlib (no image library). */
export function circlePng(size: number, rgb: [number, number, number], background?: [number, number, number]): Buffer {
  const rows: Buffer[] = [];
  const center = (size - 1) / 2;
  const radius = size * 0.42;
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 4); // filter byte 0, then RGBA pixels
    for (let x = 0; x < size; x++) {
      const inside = (x - center) ** 2 + (y - center) ** 2 <= radius ** 2;
      const color = inside ? rgb : background;
      if (color) row.set([...color, 255], 1 + x * 4);
    }
    rows.push(row);
  }
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, deflate, adaptive filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** The package: the manifest and its two icons, zipped. */
export function teamsAppPackage(inputs: TeamsAppInputs): Buffer {
  const manifest = JSON.stringify(teamsManifest(inputs), null, 2);
  return Buffer.from(
    zipSync({
      "manifest.json": new TextEncoder().encode(manifest),
      "color.png": circlePng(192, [255, 255, 255], [59, 91, 219]),
      "outline.png": circlePng(32, [255, 255, 255]),
    }),
  );
}
