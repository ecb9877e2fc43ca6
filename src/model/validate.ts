/**
 * Validating an install request: every problem is listed at once (path + message), unknown
 * fields included, and nothing is created when there is any (DESIGN.md principle 7).
 */
import { MAX_SLUG_LENGTH, MIN_SLUG_LENGTH, SLUG_PATTERN } from "./names";
import { DEFAULT_OPENCLAW_IMAGE, DEFAULT_REGION, DEFAULT_RESOURCES, type SlugSpec, type SlugSpecInput } from "./spec";

export interface Problem {
  path: string;
  message: string;
}

export type ValidationResult = { ok: true; spec: SlugSpec } | { ok: false; problems: Problem[] };

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

const KNOWN: Record<string, unknown> = {
  region: true,
  image: true,
  allowMovingTag: true,
  channels: { teams: { enabled: true }, telegram: { enabled: true, mode: true }, whatsapp: { enabled: true } },
  foundry: { endpoint: true, accountResourceId: true, deployment: true },
  allowedIdentities: true,
  resources: { cpu: true, memory: true },
  tags: true,
};

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
  return problems;
}

function unknownFields(value: unknown, shape: Record<string, unknown>, path: string, problems: Problem[]): void {
  if (!value || typeof value !== "object" || Array.isArray(value)) return;
  for (const [key, child] of Object.entries(value)) {
    const childPath = path ? `${path}.${key}` : key;
    if (key === "botToken" || key === "token" || key === "appPassword") {
      problems.push({
        path: childPath,
        message:
          "secrets are never sent to Shire: write the channel token to the slug's Key Vault (secret telegram-bot-token) instead.",
      });
      continue;
    }
    if (!(key in shape)) {
      problems.push({ path: childPath, message: "is not a known field." });
      continue;
    }
    const childShape = shape[key];
    if (childShape && typeof childShape === "object")
      unknownFields(child, childShape as Record<string, unknown>, childPath, problems);
  }
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

export function validateInstallRequest(slug: string, body: unknown): ValidationResult {
  const problems: Problem[] = [...validateSlug(slug)];
  if (body !== undefined && (body === null || typeof body !== "object" || Array.isArray(body))) {
    return { ok: false, problems: [...problems, { path: "", message: "the body must be a JSON object (or empty)." }] };
  }
  const input = (body ?? {}) as SlugSpecInput;
  unknownFields(input, KNOWN, "", problems);

  const region = input.region ?? process.env.SHIRE_DEFAULT_REGION ?? DEFAULT_REGION;
  if (typeof region !== "string" || !REGIONS.has(region))
    problems.push({
      path: "region",
      message: `'${String(region)}' is not a region Shire deploys to (${[...REGIONS].join(", ")}).`,
    });

  const image = input.image ?? process.env.SHIRE_DEFAULT_IMAGE ?? DEFAULT_OPENCLAW_IMAGE;
  if (input.allowMovingTag !== undefined && typeof input.allowMovingTag !== "boolean")
    problems.push({ path: "allowMovingTag", message: "must be true or false." });
  if (typeof image !== "string") problems.push({ path: "image", message: "must be a string." });
  else {
    const imageProblem = validateImage(image, input.allowMovingTag === true);
    if (imageProblem) problems.push({ path: "image", message: imageProblem });
  }

  const channels = input.channels ?? {};
  const teams = channels.teams?.enabled ?? true;
  const telegramEnabled = channels.telegram?.enabled ?? false;
  const telegramMode = channels.telegram?.mode ?? "polling";
  if (telegramMode !== "polling" && telegramMode !== "webhook")
    problems.push({ path: "channels.telegram.mode", message: "must be 'polling' or 'webhook'." });
  for (const [name, channel] of Object.entries(channels)) {
    const enabled = (channel as { enabled?: unknown } | undefined)?.enabled;
    if (enabled !== undefined && typeof enabled !== "boolean")
      problems.push({ path: `channels.${name}.enabled`, message: "must be true or false." });
  }

  let foundry: SlugSpec["foundry"];
  if (input.foundry !== undefined) {
    if (input.foundry === null || typeof input.foundry !== "object" || Array.isArray(input.foundry)) {
      problems.push({ path: "foundry", message: "must be an object with an endpoint (or left out)." });
    } else {
      const endpoint = input.foundry.endpoint;
      if (typeof endpoint !== "string" || !/^https:\/\/[a-z0-9.-]+(\/.*)?$/i.test(endpoint))
        problems.push({ path: "foundry.endpoint", message: "must be an https URL." });
      const accountResourceId = input.foundry.accountResourceId;
      if (
        accountResourceId !== undefined &&
        (typeof accountResourceId !== "string" || !FOUNDRY_ACCOUNT_ID.test(accountResourceId))
      ) {
        problems.push({
          path: "foundry.accountResourceId",
          message: "must be the ARM id of a Microsoft.CognitiveServices/accounts resource.",
        });
      }
      const deployment = input.foundry.deployment;
      if (
        deployment !== undefined &&
        (typeof deployment !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(deployment))
      ) {
        problems.push({
          path: "foundry.deployment",
          message: "must be a deployment name (letters, digits, '.', '_', '-'; at most 64).",
        });
      }
      foundry = {
        endpoint: String(endpoint),
        ...(typeof accountResourceId === "string" ? { accountResourceId } : {}),
        ...(typeof deployment === "string" ? { deployment } : {}),
      };
    }
  }

  const allowedIdentities = input.allowedIdentities ?? [];
  const identities: string[] = [];
  if (!Array.isArray(allowedIdentities))
    problems.push({ path: "allowedIdentities", message: "must be a list of Entra object ids." });
  else {
    allowedIdentities.forEach((id, i) => {
      if (typeof id !== "string" || !GUID.test(id))
        return problems.push({
          path: `allowedIdentities[${i}]`,
          message: `'${String(id)}' is not an Entra object id (GUID).`,
        });
      const normalized = id.toLowerCase();
      if (identities.includes(normalized))
        return problems.push({ path: `allowedIdentities[${i}]`, message: `'${id}' is listed twice.` });
      identities.push(normalized);
    });
  }

  const cpu = input.resources?.cpu ?? DEFAULT_RESOURCES.cpu;
  const memory = input.resources?.memory ?? (typeof cpu === "number" ? `${cpu * 2}Gi` : undefined);
  if (typeof cpu !== "number" || typeof memory !== "string") {
    problems.push({ path: "resources", message: 'cpu must be a number of vCPUs and memory a string such as "2Gi".' });
  } else if (!ALLOWED_PAIRS.has(`${cpu}/${memory}`) || cpu < MIN_CPU) {
    // The NGINX sidecar takes 0.25 vCPU / 0.5Gi of the total; an idle gateway alone uses ~1 GB.
    problems.push({
      path: "resources",
      message: `cpu ${cpu} / memory ${memory} is not an allowed Container Apps pair of at least ${MIN_CPU} vCPU (1/2Gi, 1.25/2.5Gi ... 4/8Gi): OpenClaw needs about 1 GB idle, the sidecar takes 0.25/0.5Gi.`,
    });
  }

  const tags = input.tags ?? {};
  if (tags === null || typeof tags !== "object" || Array.isArray(tags))
    problems.push({ path: "tags", message: "must be an object of string values." });
  else {
    const entries = Object.entries(tags);
    if (entries.length > MAX_USER_TAGS)
      problems.push({
        path: "tags",
        message: `at most ${MAX_USER_TAGS} tags (Azure allows 50 per resource; Shire sets 2).`,
      });
    for (const [key, value] of entries) {
      if (key === "managed-by" || key === "shire-slug")
        problems.push({ path: `tags.${key}`, message: "is set by Shire and cannot be overridden." });
      else if (key.length === 0 || key.length > 128 || /[<>%&\\?/]/.test(key))
        problems.push({
          path: `tags.${key}`,
          message: "tag names are 1-128 characters without < > % & \\ ? / (Azure's rules, storage accounts' limit).",
        });
      if (typeof value !== "string") problems.push({ path: `tags.${key}`, message: "must be a string." });
      else if (value.length > 256)
        problems.push({ path: `tags.${key}`, message: "tag values are at most 256 characters." });
    }
  }

  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    spec: {
      slug,
      region,
      image: image as string,
      channels: {
        teams,
        ...(telegramEnabled ? { telegram: { mode: telegramMode } } : {}),
        whatsapp: channels.whatsapp?.enabled ?? false,
      },
      ...(foundry ? { foundry } : {}),
      allowedIdentities: identities,
      resources: { cpu: cpu as number, memory: memory as string },
      tags: tags as Record<string, string>,
    },
  };
}

/**
 * Problems only the Azure context can show (checked by the API before anything starts): the
 * Foundry account's key is read with the broker's ARM client, which is bound to its subscription.
 */
export function contextProblems(spec: SlugSpec, context: { subscriptionId: string }): Problem[] {
  const subscription = spec.foundry?.accountResourceId
    ? FOUNDRY_ACCOUNT_ID.exec(spec.foundry.accountResourceId)?.[1]
    : undefined;
  if (subscription && subscription.toLowerCase() !== context.subscriptionId.toLowerCase()) {
    return [
      {
        path: "foundry.accountResourceId",
        message: `the account is in subscription ${subscription}; Shire reads keys in its own subscription (${context.subscriptionId}). Supply the key out of band instead (leave accountResourceId out).`,
      },
    ];
  }
  return [];
}
