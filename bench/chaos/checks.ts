/**
 * The chaos run's end checks, each a list of problems (empty: the invariant holds):
 *
 * - every slug in its plan's end state, through the API and in the sandbox (installed: the new
 *   image running, every rotatable secret rotated and in use, the replaced credentials refused, the
 *   same footprint as the other slugs of its variant; destroyed: nothing of it left);
 * - no orphan: nothing in the sandbox's stores (read from its state file, every collection) that
 *   belongs to a destroyed slug, besides what Azure keeps by design (listed, counted, allowed);
 * - no secret value in stored state.
 */
import fs from "node:fs";
import path from "node:path";
import type { Sandbox } from "../../src/sandbox";
import { SNAPSHOT_FILE } from "../../src/sandbox/persistence";

/** The names and ids that mark a record as a slug's: its groups, vault, storage, Entra objects, principals. */
export interface SlugMarkers {
  slug: string;
  /** Lower-case strings any of which, found in a record's key or JSON, makes the record the slug's. */
  needles: string[];
}

/** The slug's names, and the ids of its Entra objects and identities as the sandbox holds them now. */
export function slugMarkers(sandbox: Sandbox, slug: string): SlugMarkers {
  const state = sandbox.inspect() as {
    arm: { resources: { id: string; type: string; properties?: Record<string, unknown> }[] };
    graph: { id: string; appId?: string; displayName?: string }[];
  };
  const needles = new Set([`claw-${slug}`, `kv-${slug}-`, `shire-${slug}`, `st${slug.replace(/-/g, "")}`]);
  for (const object of state.graph)
    if (object.displayName === `shire-${slug}` || object.displayName?.startsWith(`shire-${slug}-`)) {
      needles.add(object.id.toLowerCase());
      if (object.appId) needles.add(object.appId.toLowerCase());
    }
  for (const resource of state.arm.resources)
    if (
      resource.type === "Microsoft.ManagedIdentity/userAssignedIdentities" &&
      resource.id.toLowerCase().includes(`/resourcegroups/claw-${slug}/`)
    )
      for (const key of ["principalId", "clientId"]) {
        const value = resource.properties?.[key];
        if (typeof value === "string") needles.add(value.toLowerCase());
      }
  return { slug, needles: [...needles] };
}

/**
 * Collections Azure itself keeps after a resource is gone, and why: records there that name a
 * destroyed slug are reported as kept, not as orphans.
 */
export const KEPT_BY_DESIGN: Record<string, string> = {
  "arm.operations":
    "the status of long-running operations (Azure answers an Azure-AsyncOperation or Location URL for a while after its resource is gone)",
  "requestLog.secrets": "the values the request log redacts (the sandbox's own list, not emulated Azure)",
  "sandbox.clock": "the sandbox's clock",
};

export interface Leftover {
  slug: string;
  collection: string;
  key: string;
}

/**
 * Every record of the sandbox's state file (each collection it persists) that belongs to one of
 * `destroyed`: orphans, and records of collections Azure keeps by design.
 */
export function leftovers(
  sandboxStateDir: string,
  destroyed: SlugMarkers[],
): { orphans: Leftover[]; kept: Leftover[] } {
  const snapshot = JSON.parse(fs.readFileSync(path.join(sandboxStateDir, SNAPSHOT_FILE), "utf8")) as {
    collections: Record<string, Record<string, unknown>>;
  };
  const orphans: Leftover[] = [];
  const kept: Leftover[] = [];
  for (const [collection, records] of Object.entries(snapshot.collections)) {
    if (collection === "requestLog.secrets") continue;
    for (const [key, value] of Object.entries(records)) {
      const text = `${key}\n${JSON.stringify(value)}`.toLowerCase();
      for (const markers of destroyed)
        if (markers.needles.some((needle) => text.includes(needle))) {
          (collection in KEPT_BY_DESIGN ? kept : orphans).push({ slug: markers.slug, collection, key });
          break;
        }
    }
  }
  return { orphans, kept };
}

/** Every value every vault in the sandbox holds now, in any version, deleted secrets included. */
export function vaultValues(sandbox: Sandbox): string[] {
  const collection = sandbox.services.keyvault.collections?.find((entry) => entry.name === "keyvault.secrets");
  const values: string[] = [];
  for (const [, entry] of collection?.entries() ?? [])
    for (const version of (entry as { versions: { value: string }[] }).versions) values.push(version.value);
  return values;
}

/** The values of one vault's live secrets by name (what a rotation must replace). */
export function slugSecretValues(sandbox: Sandbox, slug: string): Record<string, string> {
  const vaults = sandbox.inspect().keyvault as Record<string, Record<string, { deleted: boolean }>>;
  const vault = Object.keys(vaults).find((name) => name.startsWith(`kv-${slug}-`));
  if (!vault) return {};
  return Object.fromEntries(
    Object.entries(vaults[vault])
      .filter(([, secret]) => !secret.deleted)
      .map(([name]) => [name, sandbox.keyVault.readSecretValue(vault, name) ?? ""]),
  );
}
