/**
 * What the quota ledgers (placement's, the directory quota's) share: when an install's claim
 * stops counting because the install has ended, and what it created is in Azure's or Entra's own
 * counts from then on.
 */
import type { OperationStore } from "../operations/records";
import { OPERATION_RULES } from "../operations/lifecycle";

/** A claim's identity: its slug and when it was made (a slug installed again claims anew). */
export const claimKey = (slug: string, claim: { at: string }) => `${slug}@${claim.at}`;

/**
 * The claims whose install has ended: the slug's record left `installing` after the claim was
 * made. A record older than the claim is the slug before this install, which is about to start;
 * no record yet is an install about to start too. Judged on the claims as read: a claim made
 * after is not judged, and counts (on the safe side).
 */
export async function endedClaims(store: OperationStore, claims: Record<string, { at: string }>): Promise<Set<string>> {
  const ended = new Set<string>();
  await Promise.all(
    Object.entries(claims).map(async ([slug, claim]) => {
      const record = await store.getSlug(slug);
      if (
        record &&
        record.state !== OPERATION_RULES.install.running &&
        Date.parse(record.updatedAt) >= Date.parse(claim.at)
      )
        ended.add(claimKey(slug, claim));
    }),
  );
  return ended;
}
