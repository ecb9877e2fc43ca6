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
import { allVersions, vaultClient } from "./vault";
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
      const versions = await getOrUndefined(() => allVersions(client, name));
      if (!versions) continue;
      for (let i = 0; i < versions.length - 1; i++) {
        const version = versions[i];
        if (!version.enabled) continue;
        const disableAt = versions[i + 1].createdOn.getTime() + desired.graceMs;
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
