/**
 * What a resource's `provisioningState` means for converging it. Azure's values differ per
 * provider (Succeeded, Creating, Updating, InProgress, Deleting, ResolvingDNS, Waiting,
 * InitializationInProgress, ScheduledForDelete, ...), but only three cases matter here:
 *
 * - settled: Succeeded (or no state at all, for types without one): compare and write as usual;
 * - failed: Failed or Canceled: the resource is not in its desired state whatever its properties
 *   say, so it counts as a difference and is written again;
 * - busy: anything else: another operation (ours, from a run that crashed during its LRO, or
 *   someone else's) is still running on it. Writing now would conflict, so the step waits (a
 *   retryable failure the walker backs off on) and looks again.
 */
import { transient } from "./errors";
import { noteDifference } from "./diff";

export type ProvisioningVerdict = "settled" | "failed" | "busy";

export function provisioningVerdict(state: string | undefined | null): ProvisioningVerdict {
  if (!state) return "settled";
  const normalized = state.toLowerCase();
  if (normalized === "succeeded") return "settled";
  if (normalized === "failed" || normalized === "canceled" || normalized === "cancelled") return "failed";
  return "busy";
}

/** The property path a failed resource reports as its difference. */
export const FAILED_PROVISIONING = "provisioningState";

/**
 * For a resource read before converging: throws a retryable `ResourceNotReady` while it is busy,
 * and returns the extra difference a failed resource has.
 */
export function provisioningDifference(what: string, state: string | undefined | null): string[] {
  const verdict = provisioningVerdict(state);
  if (verdict === "busy")
    throw transient("ResourceNotReady", `${what} is ${state}: waiting for the operation on it to finish.`);
  return verdict === "failed" ? noteDifference(FAILED_PROVISIONING, "Succeeded", state) : [];
}

/** After a write: a resource the LRO left busy (some providers answer before they settle) is waited for. */
export function assertSettledAfterWrite(what: string, state: string | undefined | null): void {
  const verdict = provisioningVerdict(state);
  if (verdict === "busy")
    throw transient("ResourceNotReady", `${what} is still ${state} after the write: waiting for it to settle.`);
  if (verdict === "failed") throw transient("ProvisioningFailed", `${what} ended ${state}: writing it again.`);
}
