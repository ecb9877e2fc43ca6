/**
 * An upgrade wave's request, pure: `POST /api/waves` and a message on the `shire-waves` queue take
 * the same body,
 *
 *   { image, slugs: [...] | selector: { version?, region?, prefix? },
 *     canary?: [...] | <count>, batchSize?, maxParallel?, maxFailures?, allowMovingTag?, idempotencyKey? }
 *
 * and a wave's id is derived from it (`wave-<hash>`): the same body twice, or one queue message
 * delivered twice, names one wave. `idempotencyKey` names the wave instead (run the same body
 * again under another key).
 */
import { createHash } from "node:crypto";
import { validateSlug, type Problem } from "./validate";

export interface WaveSelector {
  /** Slugs whose recorded image is this one. */
  version?: string;
  region?: string;
  /** Slugs whose name starts with this. */
  prefix?: string;
}

export interface WaveRequest {
  image: string;
  allowMovingTag: boolean;
  /** The slugs, in the order given; or a selector resolved when the wave starts. */
  slugs?: string[];
  selector?: WaveSelector;
  /** Slugs upgraded first, one batch of their own; the wave stops if any of them fails. */
  canary: string[] | number;
  batchSize: number;
  maxParallel: number;
  /** Failed or rolled-back slugs the wave tolerates; one more stops it. */
  maxFailures: number;
  idempotencyKey?: string;
  /**
   * ARM writes per second the wave spends (the subscription's write bucket refills 10/s); a slug's
   * upgrade writes about twice (the share snapshot, the app). Left for tests and the bench.
   */
  writesPerSecond: number;
  /** The writes the wave may spend at once (the bucket holds 200). */
  writeBurst: number;
  /** ARM reads per second the wave spends (the read bucket refills 25/s; an upgrade reads about seven times). */
  readsPerSecond: number;
  /** The reads the wave may spend at once (the bucket holds 250). */
  readBurst: number;
}

export const WAVE_DEFAULTS = {
  canary: 1,
  batchSize: 10,
  maxFailures: 0,
  writesPerSecond: 9,
  writeBurst: 150,
  readsPerSecond: 23,
  readBurst: 200,
} as const;

/** ARM writes one slug's upgrade makes when nothing goes wrong: the share snapshot and the app. */
export const WRITES_PER_UPGRADE = 2;
/**
 * ARM reads one slug's upgrade makes: what runs, the snapshot lookup, the app before its write,
 * the write's poll and result, and the health gate's looks (two or three while a revision starts;
 * measured 6.9 a slug by the bench). With the gate's looks, reads bind before writes do.
 */
export const READS_PER_UPGRADE = 7;

const FIELDS = [
  "image",
  "allowMovingTag",
  "slugs",
  "selector",
  "canary",
  "batchSize",
  "maxParallel",
  "maxFailures",
  "idempotencyKey",
  "writesPerSecond",
  "writeBurst",
  "readsPerSecond",
  "readBurst",
];

function positiveInteger(value: unknown, path: string, problems: Problem[], min = 1, max = 10_000): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    problems.push({ path, message: `must be a whole number from ${min} to ${max}.` });
    return undefined;
  }
  return value as number;
}

/** A rate in (0, 1000] per second, or undefined when absent. */
function positiveRate(value: unknown, path: string, problems: Problem[]): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "number" && value > 0 && value <= 1_000) return value;
  problems.push({ path, message: "must be a number above 0 and at most 1000." });
  return undefined;
}

/** At most this many canaries, named or counted (a canary batch runs before everything else). */
const MAX_CANARIES = 1_000;

/**
 * The wave's own rules (the image is checked by the caller with the install's image rules):
 * slugs or a selector, canaries among the slugs, sizes in range. Every problem at once.
 */
export function validateWaveRequest(
  body: unknown,
): { ok: true; request: WaveRequest } | { ok: false; problems: Problem[] } {
  if (!body || typeof body !== "object" || Array.isArray(body))
    return { ok: false, problems: [{ path: "", message: "the body must be a JSON object." }] };
  const input = body as Record<string, unknown>;
  const problems: Problem[] = [];
  for (const key of Object.keys(input))
    if (!FIELDS.includes(key)) problems.push({ path: key, message: "is not a field of a wave." });
  if (typeof input.image !== "string" || !input.image)
    problems.push({ path: "image", message: "is required: the image every slug moves to." });
  if (input.allowMovingTag !== undefined && typeof input.allowMovingTag !== "boolean")
    problems.push({ path: "allowMovingTag", message: "must be true or false." });
  let slugs: string[] | undefined;
  let selector: WaveSelector | undefined;
  if ((input.slugs === undefined) === (input.selector === undefined))
    problems.push({
      path: "slugs",
      message: "give either slugs (a list) or a selector ({version, region, prefix}), not both.",
    });
  if (input.slugs !== undefined) {
    if (!Array.isArray(input.slugs) || input.slugs.length === 0 || input.slugs.some((slug) => typeof slug !== "string"))
      problems.push({ path: "slugs", message: "must be a non-empty list of slug names." });
    else {
      slugs = [...new Set(input.slugs as string[])];
      if (slugs.length !== input.slugs.length) problems.push({ path: "slugs", message: "names a slug twice." });
      for (const slug of slugs)
        for (const problem of validateSlug(slug)) problems.push({ path: `slugs[${slug}]`, message: problem.message });
    }
  }
  if (input.selector !== undefined) {
    const raw = input.selector as Record<string, unknown>;
    if (!raw || typeof raw !== "object" || Array.isArray(raw))
      problems.push({ path: "selector", message: "must be an object: {version?, region?, prefix?}." });
    else {
      selector = {};
      for (const [key, value] of Object.entries(raw)) {
        if (!["version", "region", "prefix"].includes(key))
          problems.push({ path: `selector.${key}`, message: "is not a selector field (version, region, prefix)." });
        else if (typeof value !== "string" || !value)
          problems.push({ path: `selector.${key}`, message: "must be a non-empty string." });
        else selector[key as keyof WaveSelector] = value;
      }
    }
  }
  let canary: string[] | number = WAVE_DEFAULTS.canary;
  if (Array.isArray(input.canary)) {
    canary = input.canary as string[];
    if (canary.length > MAX_CANARIES)
      problems.push({ path: "canary", message: `lists at most ${MAX_CANARIES} slugs, not ${canary.length}.` });
    else if (canary.some((slug) => typeof slug !== "string"))
      problems.push({ path: "canary", message: "must list slug names, or be a count." });
    else if (new Set(canary).size !== canary.length) problems.push({ path: "canary", message: "names a slug twice." });
    else if (canary.some((slug) => validateSlug(slug).length > 0))
      problems.push({ path: "canary", message: "must list valid slug names." });
    else if (slugs) {
      const missing = canary.filter((slug) => !slugs!.includes(slug));
      if (missing.length)
        problems.push({ path: "canary", message: `names slugs not in the wave: ${missing.join(", ")}.` });
    }
  } else if (input.canary !== undefined) {
    const count = positiveInteger(input.canary, "canary", problems, 0, MAX_CANARIES);
    if (count !== undefined) canary = count;
  }
  const batchSize = positiveInteger(input.batchSize, "batchSize", problems, 1, 1_000) ?? WAVE_DEFAULTS.batchSize;
  const maxParallel = positiveInteger(input.maxParallel, "maxParallel", problems, 1, 1_000) ?? batchSize;
  const maxFailures =
    positiveInteger(input.maxFailures, "maxFailures", problems, 0, 100_000) ?? WAVE_DEFAULTS.maxFailures;
  const writesPerSecond =
    positiveRate(input.writesPerSecond, "writesPerSecond", problems) ?? WAVE_DEFAULTS.writesPerSecond;
  const readsPerSecond = positiveRate(input.readsPerSecond, "readsPerSecond", problems) ?? WAVE_DEFAULTS.readsPerSecond;
  const readBurst =
    positiveInteger(input.readBurst, "readBurst", problems, READS_PER_UPGRADE, 10_000) ?? WAVE_DEFAULTS.readBurst;
  const writeBurst =
    positiveInteger(input.writeBurst, "writeBurst", problems, WRITES_PER_UPGRADE, 10_000) ?? WAVE_DEFAULTS.writeBurst;
  if (
    input.idempotencyKey !== undefined &&
    (typeof input.idempotencyKey !== "string" || !input.idempotencyKey || input.idempotencyKey.length > 200)
  )
    problems.push({ path: "idempotencyKey", message: "must be a string of 1 to 200 characters." });
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    request: {
      image: input.image as string,
      allowMovingTag: input.allowMovingTag === true,
      ...(slugs ? { slugs } : {}),
      ...(selector ? { selector } : {}),
      canary,
      batchSize,
      maxParallel,
      maxFailures,
      writesPerSecond,
      writeBurst,
      readsPerSecond,
      readBurst,
      ...(typeof input.idempotencyKey === "string" ? { idempotencyKey: input.idempotencyKey } : {}),
    },
  };
}

/** Keys sorted at every level: the same request always serializes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object")
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(",")}}`;
  return JSON.stringify(value);
}

/** The wave's id: from its idempotency key, else from the whole (normalized) request. */
export function waveIdFor(request: WaveRequest): string {
  const source = request.idempotencyKey ? `key:${request.idempotencyKey}` : `request:${canonical(request)}`;
  return `wave-${createHash("sha256").update(source).digest("hex").slice(0, 20)}`;
}

export interface SlugFacts {
  slug: string;
  state: string;
  version: string | null;
  region: string;
}

/** The slugs a selector picks among what Shire knows: installed ones only, by name. */
export function selectSlugs(records: SlugFacts[], selector: WaveSelector): string[] {
  return records
    .filter(
      (record) =>
        record.state === "installed" &&
        (selector.version === undefined || record.version === selector.version) &&
        (selector.region === undefined || record.region === selector.region) &&
        (selector.prefix === undefined || record.slug.startsWith(selector.prefix)),
    )
    .map((record) => record.slug)
    .sort();
}

/**
 * The wave's order: canaries first (given, or the first `n`), then the rest as resolved. A named
 * canary that is not among the wave's slugs (a typo, or one the selector does not pick) is
 * `missingCanaries`: the wave must not go ahead without the canary its operator asked for.
 */
export function orderWave(
  slugs: string[],
  canary: string[] | number,
): { order: string[]; canaries: number; missingCanaries: string[] } {
  const canaries = Array.isArray(canary) ? canary.filter((slug) => slugs.includes(slug)) : slugs.slice(0, canary);
  const missingCanaries = Array.isArray(canary) ? canary.filter((slug) => !slugs.includes(slug)) : [];
  const rest = slugs.filter((slug) => !canaries.includes(slug));
  return { order: [...canaries, ...rest], canaries: canaries.length, missingCanaries };
}
