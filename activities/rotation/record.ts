/**
 * The rotation record, written from the vault: each secret's latest version, when it was written,
 * whether a rotation left it staged, and when it is due again under the app settings' policy. A
 * rotation writes it when it ends (with how it went for each secret it rotated); the schedule
 * writes it for slugs that have none yet.
 */
import type { ActivityDeps } from "../deps";
import { latestVersion, rotationStateOf, vaultClient } from "./vault";
import type { RecordRotationInput, RotationKind } from "../../src/contract/rotation";
import type { OperationStore } from "../../src/operations/records";
import { nextDue, type RotationPolicy } from "../../src/operations/rotation-policy";
import { mergeRotation, type RotationRecord, type SecretRotation } from "../../src/operations/rotation-record";

/** Each secret as the vault shows it now. */
export async function readSecretRotations(
  deps: ActivityDeps,
  vaultName: string,
  secrets: { name: string; kind: RotationKind }[],
  policy: RotationPolicy,
): Promise<SecretRotation[]> {
  const client = vaultClient(deps, vaultName);
  const rotations: SecretRotation[] = [];
  for (const secret of secrets) {
    const latest = await latestVersion(client, secret.name);
    const due = latest ? nextDue(policy, secret.kind, latest.createdOn) : null;
    rotations.push({
      name: secret.name,
      kind: secret.kind,
      version: latest?.version ?? null,
      lastRotatedAt: latest?.createdOn.toISOString() ?? null,
      nextDueAt: due?.toISOString() ?? null,
      state: rotationStateOf(latest) ?? "installed",
    });
  }
  return rotations;
}

export async function recordRotation(
  deps: ActivityDeps,
  store: OperationStore,
  policy: RotationPolicy,
  input: RecordRotationInput,
): Promise<RotationRecord> {
  const rotations = (await readSecretRotations(deps, input.vaultName, input.secrets, policy)).map((secret) => {
    const outcome = input.outcomes?.[secret.name];
    return outcome && input.operationId
      ? { ...secret, lastResult: { operationId: input.operationId, at: input.at, ...outcome } }
      : secret;
  });
  return store.updateRotation(input.slug, (current) =>
    mergeRotation(current, input.slug, rotations, input.at, input.oldVersionsDisableAt),
  );
}
