/**
 * Validating an install request: every problem is listed at once (path + message), unknown
 * fields included, and nothing is created when there is any (DESIGN.md principle 7).
 */
import { MAX_SLUG_LENGTH, MIN_SLUG_LENGTH, SLUG_PATTERN } from "./names";
import {
  DEFAULT_OPENCLAW_IMAGE,
  DEFAULT_REGION,
  DEFAULT_RESOURCES,
  DEFAULT_TEAMS_BOT_IDENTITY,
  TEAMS_BOT_IDENTITIES,
  teamsBotIdentityOf,
  type SlugSpec,
  type TeamsBotIdentity,
} from "./spec";

export interface Problem {
  path: string;
  message: string;
}

/**
 * A valid request's spec (every default filled in) and what the request itself named where a
 * default may give way to the slug's record (the Teams bot's identity: `withRecordedBotIdentity`).
 */
export type ValidationResult =
  { ok: true; spec: SlugSpec; named: { teamsBotIdentity?: TeamsBotIdentity } } | { ok: false; problems: Problem[] };

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FOUNDRY_ACCOUNT_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/[^/]+\/providers\/Microsoft\.CognitiveServices\/accounts\/[^/]+$/i;
/** Total vCPU (memory twice that in Gi): below it the gateway runs out of memory. */
const MIN_CPU = 1;
/** Azure allows 50 tags per resource; Shire sets two of its own. */
const MAX_USER_TAGS = 48;
const MOVING_TAGS = /^(latest|main|beta|dev|extended-stable)(-slim|-browser)?$/;
/**
 * `<repo>:<YYYY.M.P[-N|-beta.N][-slim|-browser][-<build>]>` (e.g. Shire's own `2026.9.6-teams`),
 * `<repo>@sha256:<64 hex>`, or both (`<repo>:<tag>@sha256:<64 hex>`: the digest is what runs).
 */
const PINNED_TAG = /^\d{4}\.\d{1,2}\.\d+(-\d+|-beta\.\d+)?(-slim|-browser)?(-[a-z][a-z0-9]*)?$/;
const REPOSITORY = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)+$/;
const REGIONS = new Set([
  "westeurope",
  "northeurope",
  "swedencentral",
  "uksouth",
  "francecentral",
  "germanywestcentral",
  "eastus",
  "eastus2",
  "westus2",
  "westus3",
  "centralus",
  "canadacentral",
  "australiaeast",
  "japaneast",
  "southeastasia",
]);
const ALLOWED_PAIRS = new Set(Array.from({ length: 16 }, (_, i) => (i + 1) * 0.25).map((cpu) => `${cpu}/${cpu * 2}Gi`));

export function validateSlug(slug: string): Problem[] {
  const problems: Problem[] = [];
  if (slug.length < MIN_SLUG_LENGTH || slug.length > MAX_SLUG_LENGTH) {
    problems.push({
      path: "slug",
      message: `must be ${MIN_SLUG_LENGTH}-${MAX_SLUG_LENGTH} characters (the Key Vault name kv-<slug>-<suffix> must fit 24); got ${slug.length}.`,
    });
  }
  if (!SLUG_PATTERN.test(slug)) {
    problems.push({
      path: "slug",
      message:
        "must be lowercase letters and digits, start with a letter, end with a letter or digit, with single hyphens allowed inside.",
    });
  }
  if (RESERVED_SLUGS.has(slug) || slug.startsWith("claw-"))
    problems.push({
      path: "slug",
      message: `'${slug}' is reserved: its names would collide with Shire's own (shire-admins, the broker, claw-<slug> groups).`,
    });
  return problems;
}

/** Registries a Container App cannot pull from: this machine, not the replica. */
const LOCAL_REGISTRY = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?\//i;

export function validateImage(image: string, allowMovingTag: boolean): string | undefined {
  if (LOCAL_REGISTRY.test(image))
    return `'${image.split("/")[0]}' is a local registry; Container Apps pull from a registry they can reach (e.g. <name>.azurecr.io).`;
  const digest = /^(.+?)(?::([^/:@]+))?@sha256:([0-9a-f]{64})$/.exec(image);
  if (digest) return REPOSITORY.test(digest[1]) ? undefined : `'${digest[1]}' is not a valid image repository.`;
  if (/@/.test(image)) return "a digest must be @sha256:<64 lowercase hex characters>.";
  const at = image.lastIndexOf(":");
  const slash = image.lastIndexOf("/");
  if (at <= slash) return "must name a tag or a digest (repository:tag or repository@sha256:...).";
  const repository = image.slice(0, at);
  const tag = image.slice(at + 1);
  if (!REPOSITORY.test(repository)) return `'${repository}' is not a valid image repository.`;
  if (MOVING_TAGS.test(tag))
    return allowMovingTag
      ? undefined
      : `tag '${tag}' moves; pin a version (e.g. 2026.9.6) or a digest, or set allowMovingTag.`;
  if (!PINNED_TAG.test(tag) && !allowMovingTag)
    return `tag '${tag}' is not an OpenClaw version (YYYY.M.P[-N][-slim|-browser]).`;
  return undefined;
}

/** What validation takes from the app's settings (pure: tests pass their own). */
export interface ValidationSettings {
  defaultRegion: string;
  defaultImage: string;
  /** Image repositories (or registry hosts) installs may pull from: `ghcr.io/openclaw/openclaw`, `myacr.azurecr.io`. */
  allowedRegistries: string[];
}

/** The official OpenClaw registry, plus what the app settings add (the shared registry, SHIRE_ALLOWED_REGISTRIES). */
export function validationSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): ValidationSettings {
  const listed = (env.SHIRE_ALLOWED_REGISTRIES ?? "")
    .split(",")
    .map((entry) => entry.trim().toLowerCase().replace(/\/+$/, ""))
    .filter(Boolean);
  // An empty setting is an unset one: App Service has no "unset", and the deployment template
  // passes its optional settings empty (infra/broker/azuredeploy.json).
  return {
    defaultRegion: env.SHIRE_DEFAULT_REGION || DEFAULT_REGION,
    defaultImage: env.SHIRE_DEFAULT_IMAGE || DEFAULT_OPENCLAW_IMAGE,
    allowedRegistries: [
      ...new Set([
        OFFICIAL_REPOSITORY,
        ...(env.SHIRE_SHARED_REGISTRY_LOGIN_SERVER ? [env.SHIRE_SHARED_REGISTRY_LOGIN_SERVER.toLowerCase()] : []),
        ...listed,
      ]),
    ],
  };
}

/** Where the official images are (openclaw-facts §1). */
export const OFFICIAL_REPOSITORY = "ghcr.io/openclaw/openclaw";

/** Most individually allowed identities a slug takes: one step converges them all, and the request stays small. */
export const MAX_ALLOWED_IDENTITIES = 500;

/** Slugs whose derived names would collide with Shire's own: `shire-admins`, the broker, `claw-claw-...`. */
const RESERVED_SLUGS = new Set(["admins", "broker", "shire"]);

/** An image reference's repository (registry host + path), lowercase; docker.io when it names no registry. */
function repositoryOf(image: string): string {
  const withoutDigest = image.split("@")[0];
  const slash = withoutDigest.lastIndexOf("/");
  const colon = withoutDigest.lastIndexOf(":");
  const repository = (colon > slash ? withoutDigest.slice(0, colon) : withoutDigest).toLowerCase();
  const first = repository.split("/")[0];
  return first.includes(".") || first.includes(":") || first === "localhost" ? repository : `docker.io/${repository}`;
}

/** Is the image in an allowed repository (or under an allowed registry host)? */
export function imageAllowed(image: string, allowed: string[]): boolean {
  const repository = repositoryOf(image);
  return allowed.some((entry) => repository === entry || repository.startsWith(`${entry}/`));
}

/** Reads a request body field by field: each value's type is checked, unknown fields are problems. */
class Reader {
  constructor(readonly problems: Problem[]) {}

  /** An object's own fields, any field not in `known` a problem (prototype names included). */
  object(
    value: unknown,
    path: string,
    known: readonly string[],
    options: { refuseSecrets?: boolean } = {},
  ): Record<string, unknown> | undefined {
    if (value === undefined) return undefined;
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      this.problems.push({ path, message: `must be an object${known.length ? ` with ${known.join(", ")}` : ""}.` });
      return undefined;
    }
    const fields = Object.create(null) as Record<string, unknown>;
    for (const [key, child] of Object.entries(value)) {
      const childPath = path ? `${path}.${key}` : key;
      if (options.refuseSecrets !== false && SECRET_FIELDS.has(key)) {
        this.problems.push({
          path: childPath,
          message:
            "secrets are never sent to Shire: write the channel token to the slug's Key Vault (secret telegram-bot-token) instead.",
        });
      } else if (!known.includes(key)) {
        this.problems.push({ path: childPath, message: "is not a known field." });
      } else fields[key] = child;
    }
    return fields;
  }

  string(value: unknown, path: string): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "string") {
      this.problems.push({ path, message: `must be a string, not ${describe(value)}.` });
      return undefined;
    }
    return value;
  }

  boolean(value: unknown, path: string): boolean | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "boolean") {
      this.problems.push({ path, message: `must be true or false, not ${describe(value)}.` });
      return undefined;
    }
    return value;
  }

  number(value: unknown, path: string): number | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isFinite(value)) {
      this.problems.push({ path, message: `must be a number, not ${describe(value)}.` });
      return undefined;
    }
    return value;
  }

  array(value: unknown, path: string, max: number): unknown[] | undefined {
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) {
      this.problems.push({ path, message: `must be a list, not ${describe(value)}.` });
      return undefined;
    }
    if (value.length > max) {
      this.problems.push({ path, message: `takes at most ${max} entries; got ${value.length}.` });
      return undefined;
    }
    return value;
  }
}

const SECRET_FIELDS = new Set(["botToken", "token", "appPassword", "apiKey", "key", "password", "secret"]);

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`.slice(0, 60);
}

export function validateInstallRequest(
  slug: string,
  body: unknown,
  settings: ValidationSettings = validationSettingsFromEnv(),
): ValidationResult {
  const problems: Problem[] = [...validateSlug(slug)];
  const read = new Reader(problems);
  const input =
    body === undefined
      ? (Object.create(null) as Record<string, unknown>)
      : read.object(body, "", [
          "region",
          "image",
          "allowMovingTag",
          "channels",
          "foundry",
          "allowedIdentities",
          "resources",
          "tags",
          "subscriptionId",
        ]);
  if (!input)
    return {
      ok: false,
      problems: problems.length ? problems : [{ path: "", message: "the body must be a JSON object (or empty)." }],
    };

  const region = read.string(input.region, "region") ?? settings.defaultRegion;
  if (!REGIONS.has(region))
    problems.push({
      path: "region",
      message: `'${region}' is not a region Shire deploys to (${[...REGIONS].join(", ")}).`,
    });

  const allowMovingTag = read.boolean(input.allowMovingTag, "allowMovingTag") ?? false;
  const image = read.string(input.image, "image") ?? settings.defaultImage;
  const imageProblem = validateImage(image, allowMovingTag);
  if (imageProblem) problems.push({ path: "image", message: imageProblem });
  else if (!imageAllowed(image, settings.allowedRegistries)) {
    problems.push({
      path: "image",
      message: `'${repositoryOf(image)}' is not an allowed registry (${settings.allowedRegistries.join(", ")}); an operator adds one with SHIRE_ALLOWED_REGISTRIES.`,
    });
  }

  const channels = read.object(input.channels, "channels", ["teams", "telegram", "whatsapp"]) ?? {};
  const teamsInput = read.object(channels.teams, "channels.teams", ["enabled", "botIdentity"]);
  const telegramInput = read.object(channels.telegram, "channels.telegram", ["enabled", "mode"]);
  const whatsappInput = read.object(channels.whatsapp, "channels.whatsapp", ["enabled"]);
  const teams = read.boolean(teamsInput?.enabled, "channels.teams.enabled") ?? true;
  const botIdentity = read.string(teamsInput?.botIdentity, "channels.teams.botIdentity");
  if (botIdentity !== undefined && !TEAMS_BOT_IDENTITIES.includes(botIdentity as TeamsBotIdentity))
    problems.push({
      path: "channels.teams.botIdentity",
      message: `must be ${TEAMS_BOT_IDENTITIES.map((name) => `'${name}'`).join(" or ")}.`,
    });
  else if (botIdentity !== undefined && !teams)
    problems.push({
      path: "channels.teams.botIdentity",
      message: "names the Teams bot's identity: only with Teams on.",
    });
  const telegramEnabled = read.boolean(telegramInput?.enabled, "channels.telegram.enabled") ?? false;
  const whatsapp = read.boolean(whatsappInput?.enabled, "channels.whatsapp.enabled") ?? false;
  const telegramMode = read.string(telegramInput?.mode, "channels.telegram.mode") ?? "polling";
  if (telegramMode !== "polling" && telegramMode !== "webhook")
    problems.push({ path: "channels.telegram.mode", message: "must be 'polling' or 'webhook'." });

  let foundry: SlugSpec["foundry"];
  const foundryInput = read.object(input.foundry, "foundry", ["endpoint", "accountResourceId", "deployment"]);
  if (foundryInput) {
    const endpoint = read.string(foundryInput.endpoint, "foundry.endpoint");
    if (endpoint === undefined || !/^https:\/\/[a-z0-9.-]+(\/.*)?$/i.test(endpoint) || endpoint.length > 2048)
      problems.push({ path: "foundry.endpoint", message: "must be an https URL." });
    const accountResourceId = read.string(foundryInput.accountResourceId, "foundry.accountResourceId");
    if (accountResourceId !== undefined && !FOUNDRY_ACCOUNT_ID.test(accountResourceId))
      problems.push({
        path: "foundry.accountResourceId",
        message: "must be the ARM id of a Microsoft.CognitiveServices/accounts resource.",
      });
    const deployment = read.string(foundryInput.deployment, "foundry.deployment");
    if (deployment !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(deployment))
      problems.push({
        path: "foundry.deployment",
        message: "must be a deployment name (letters, digits, '.', '_', '-'; at most 64).",
      });
    foundry = {
      endpoint: String(endpoint),
      ...(accountResourceId !== undefined ? { accountResourceId } : {}),
      ...(deployment !== undefined ? { deployment } : {}),
    };
  }

  const identities: string[] = [];
  (read.array(input.allowedIdentities, "allowedIdentities", MAX_ALLOWED_IDENTITIES) ?? []).forEach((id, i) => {
    if (typeof id !== "string" || !GUID.test(id))
      return problems.push({
        path: `allowedIdentities[${i}]`,
        message: `${describe(id)} is not an Entra object id (GUID).`,
      });
    const normalized = id.toLowerCase();
    if (identities.includes(normalized))
      return problems.push({ path: `allowedIdentities[${i}]`, message: `'${id}' is listed twice.` });
    identities.push(normalized);
  });

  const resourcesInput = read.object(input.resources, "resources", ["cpu", "memory"]);
  const cpu = read.number(resourcesInput?.cpu, "resources.cpu") ?? DEFAULT_RESOURCES.cpu;
  const memory = read.string(resourcesInput?.memory, "resources.memory") ?? `${cpu * 2}Gi`;
  if (!ALLOWED_PAIRS.has(`${cpu}/${memory}`) || cpu < MIN_CPU) {
    // The NGINX sidecar takes 0.25 vCPU / 0.5Gi of the total; an idle gateway alone uses ~1 GB.
    problems.push({
      path: "resources",
      message: `cpu ${cpu} / memory ${memory} is not an allowed Container Apps pair of at least ${MIN_CPU} vCPU (1/2Gi, 1.25/2.5Gi ... 4/8Gi): OpenClaw needs about 1 GB idle, the sidecar takes 0.25/0.5Gi.`,
    });
  }

  const tags = Object.create(null) as Record<string, string>;
  const tagsInput =
    input.tags === undefined
      ? undefined
      : read.object(input.tags, "tags", Object.keys(input.tags ?? {}), { refuseSecrets: false });
  if (tagsInput) {
    const entries = Object.entries(tagsInput);
    if (entries.length > MAX_USER_TAGS)
      problems.push({
        path: "tags",
        message: `at most ${MAX_USER_TAGS} tags (Azure allows 50 per resource; Shire sets 2).`,
      });
    for (const [key, value] of entries) {
      if (key === "managed-by" || key === "shire-slug")
        problems.push({ path: `tags.${key}`, message: "is set by Shire and cannot be overridden." });
      else if (key.length === 0 || key.length > 128 || /[<>%&\\?/]/.test(key) || key === "__proto__")
        problems.push({
          path: `tags.${key}`,
          message: "tag names are 1-128 characters without < > % & \\ ? / (Azure's rules, storage accounts' limit).",
        });
      const text = read.string(value, `tags.${key}`);
      if (text !== undefined && text.length > 256)
        problems.push({ path: `tags.${key}`, message: "tag values are at most 256 characters." });
      if (text !== undefined) tags[key] = text;
    }
  }

  const subscriptionId = read.string(input.subscriptionId, "subscriptionId");
  if (subscriptionId !== undefined && !GUID.test(subscriptionId))
    problems.push({ path: "subscriptionId", message: `${describe(subscriptionId)} is not a subscription id (GUID).` });

  if (problems.length > 0) return { ok: false, problems };
  const named = botIdentity !== undefined ? { teamsBotIdentity: botIdentity as TeamsBotIdentity } : {};
  return {
    ok: true,
    named,
    spec: {
      slug,
      ...(subscriptionId !== undefined ? { subscriptionId } : {}),
      region,
      image,
      channels: {
        teams,
        ...(teams ? { teamsBotIdentity: named.teamsBotIdentity ?? DEFAULT_TEAMS_BOT_IDENTITY } : {}),
        ...(telegramEnabled ? { telegram: { mode: telegramMode as "polling" | "webhook" } } : {}),
        whatsapp,
      },
      ...(foundry ? { foundry } : {}),
      allowedIdentities: identities,
      resources: { cpu, memory },
      tags: { ...tags },
    },
  };
}

/**
 * An installed slug's Teams bot keeps its identity: Azure sets a bot's app type when the bot is
 * created, and the Teams package users installed names the bot's app id, so moving an installed
 * bot needs a new Azure Bot and a new package, a migration Shire does not have. So a request that
 * does not name `channels.teams.botIdentity` gets the identity the slug's recorded spec has (a
 * spec recorded before the field existed: an app registration), and one that names another is
 * refused. `recorded` is the spec the slug's footprint follows; undefined for a slug that has none
 * (new, or destroyed), which gets what the request asked for or the default.
 */
export function withRecordedBotIdentity(
  validated: { spec: SlugSpec; named: { teamsBotIdentity?: TeamsBotIdentity } },
  recorded: SlugSpec | undefined,
): { ok: true; spec: SlugSpec } | { ok: false; message: string } {
  const { spec, named } = validated;
  const installed = recorded ? teamsBotIdentityOf(recorded) : undefined;
  if (!spec.channels.teams || installed === undefined) return { ok: true, spec };
  if (named.teamsBotIdentity !== undefined && named.teamsBotIdentity !== installed)
    return {
      ok: false,
      message: `Slug '${spec.slug}' has a Teams bot on ${installed === "appRegistration" ? "its own app registration" : "its managed identity"} (botIdentity '${installed}'); changing it to '${named.teamsBotIdentity}' is not supported: it needs a new Azure Bot and a new Teams app package for users (docs/operations.md, "The Teams bot's identity"). Leave channels.teams.botIdentity out, or name '${installed}'.`,
    };
  return { ok: true, spec: { ...spec, channels: { ...spec.channels, teamsBotIdentity: installed } } };
}

/**
 * Problems only the Azure context can show (checked by the API before anything starts): the
 * Foundry account's key is read with the broker's ARM client for the slug's subscription (the one
 * placement chose), so the account must be in it.
 */
export function contextProblems(spec: SlugSpec, context: { subscriptionId: string }): Problem[] {
  const subscription = spec.foundry?.accountResourceId
    ? FOUNDRY_ACCOUNT_ID.exec(spec.foundry.accountResourceId)?.[1]
    : undefined;
  if (subscription && subscription.toLowerCase() !== context.subscriptionId.toLowerCase()) {
    return [
      {
        path: "foundry.accountResourceId",
        message: `the account is in subscription ${subscription}; Shire reads keys in the slug's subscription (${context.subscriptionId}). Supply the key out of band instead (leave accountResourceId out).`,
      },
    ];
  }
  return [];
}
