/** Which spec a slug follows: what its footprint last converged to, or what was last asked. */
import type { SlugSpec } from "../model/spec";
import { validateInstallRequest } from "../model/validate";
import type { OperationStore, SlugRecord } from "./records";

/** The newest install request for the slug, finished or not (from the journal, newest first). */
export async function lastInstallRequest(store: OperationStore, slug: string): Promise<SlugSpec | undefined> {
  let continuationToken: string | undefined;
  do {
    const page = await store.queryOperations({
      slug,
      kind: "install",
      limit: 50,
      ...(continuationToken ? { continuationToken } : {}),
    });
    const install = page.operations.find((operation) => operation.request);
    if (install) return install.request as SlugSpec;
    continuationToken = page.continuationToken;
  } while (continuationToken);
  return undefined;
}

/** The spec the footprint was last converged to (recorded with what it applied), else the newest request; undefined for a slug never installed. */
export async function appliedSpec(store: OperationStore, slug: string): Promise<SlugSpec | undefined> {
  const applied = await store.getApplied(slug);
  if (applied?.spec) return applied.spec as SlugSpec;
  return lastInstallRequest(store, slug);
}

/** The spec the footprint was last converged to, or the defaults for a slug never installed. */
export async function convergedSpec(store: OperationStore, slug: string): Promise<SlugSpec> {
  const spec = await appliedSpec(store, slug);
  if (spec) return spec;
  const defaults = validateInstallRequest(slug, {});
  if (!defaults.ok) throw new TypeError(`No spec for '${slug}'.`);
  return defaults.spec;
}

/**
 * The spec an install request of an existing slug is held to (its Teams bot's identity:
 * `withRecordedBotIdentity`): what the footprint follows, or undefined when the slug has none
 * (never installed, or destroyed: its resources are gone, a new install starts afresh).
 */
export async function recordedSpec(
  store: OperationStore,
  slug: string,
  current: SlugRecord | undefined,
): Promise<SlugSpec | undefined> {
  if (current?.state === "destroyed") return undefined;
  return appliedSpec(store, slug);
}
