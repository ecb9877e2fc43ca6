/**
 * Old versions of a slug's secrets are disabled once they have been superseded for the grace
 * period (`SHIRE_ROTATION_GRACE_SECONDS`): until then an operator can still read the value a
 * rotation replaced (to roll back by hand); after it, Key Vault refuses to hand it out. The latest
 * version is never disabled: a versionless reference (what the app reads) resolves to it, and a
 * disabled latest version would keep every new replica from starting.
 *
 * Safe any time and to run again: a version that is superseded stays superseded, and a disabled
 * one is left as it is. Reports when the next still-enabled version may go (the rotation record
 * shows it, and the schedule comes back for it).
 */
import type { ActivityDeps } from "../deps";
import { getOrUndefined } from "../arm";
import { allVersions, latestVersion, vaultClient } from "./vault";
import type { ActivityInput, ActivityResult } from "../../src/contract/activity";
import type { RetireVersionsDesired } from "../../src/contract/rotation";

export type RetireOutputs = "disabled" | "nextDisableAt";

export function createRetireVersionsActivity(deps: ActivityDeps) {
  return async ({ nodeId, desired }: ActivityInput<RetireVersionsDesired>): Promise<ActivityResult<RetireOutputs>> => {
    const client = vaultClient(deps, desired.vaultName);
    const now = Date.now();
    const disabled: string[] = [];
    let next: number | undefined;
    for (const name of desired.secretNames) {
      // The latest is what a versionless reference resolves to: Key Vault says which (times are
      // whole seconds, so two versions written in the same second cannot be ordered by them).
      const latest = await latestVersion(client, name);
      const versions = latest && (await getOrUndefined(() => allVersions(client, name)));
      if (!latest || !versions) continue;
      for (const version of versions) {
        if (version.version === latest.version || !version.enabled) continue;
        // Superseded when the next version was written: the earliest written no sooner than it.
        const successor = Math.min(
          ...versions
            .filter((other) => other.version !== version.version && other.createdOn >= version.createdOn)
            .map((other) => other.createdOn.getTime()),
        );
        const disableAt = successor + desired.graceMs;
        if (disableAt > now) {
          next = Math.min(next ?? disableAt, disableAt);
          continue;
        }
        deps.beforeWrite([`${name}/${version.version} (disable)`], true);
        await client.updateSecretProperties(name, version.version, { enabled: false });
        disabled.push(`${name}/${version.version}`);
      }
    }
    return {
      nodeId,
      action: disabled.length > 0 ? "updated" : "unchanged",
      changed: disabled,
      outputs: { disabled: disabled.length, nextDisableAt: next === undefined ? null : new Date(next).toISOString() },
    };
  };
}
