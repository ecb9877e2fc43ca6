/**
 * What a drift audit found for a slug: per plan resource, whether it matches its plan, differs
 * (each property path with the expected and the actual value; a secret only ever as present,
 * missing or a version Shire did not write), is missing, or could not be read; and the resources
 * in `claw-<slug>` the plan does not have (reported, never deleted by the audit).
 */
import type { Difference } from "../../activities/diff";

export interface DriftEntry {
  node: string;
  kind: string;
  state: "matches" | "differs" | "absent" | "unknown";
  differences?: Difference[];
  /** Changed paths the kind reported without values (a secret's value, a credential). */
  paths?: string[];
  error?: string;
}

export interface DriftRecord {
  slug: string;
  auditedAt: string;
  /** Entries that do not match (the matching ones are counted, not listed). */
  drifted: DriftEntry[];
  matching: number;
  /** ARM resources in the slug's group the plan does not know. */
  extra: { id: string; type: string }[];
  /** Reads the audit made for this slug (what it cost in ARM's read budget). */
  reads: number;
}

export function hasDrift(record: DriftRecord): boolean {
  return record.drifted.length > 0 || record.extra.length > 0;
}
