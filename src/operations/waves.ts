/**
 * An upgrade wave's record (`waves/<id>.json` beside the operation records): the request, the
 * operator's control (run, pause, cancel), and each slug's state with its reason and operation.
 * The wave orchestration writes the slugs' states once per batch; the API writes the control.
 * Writes are ETag-guarded read-modify-writes (OperationStore), so the two never lose each other's.
 */
import type { WaveRequest } from "../model/wave";

export type WaveSlugState = "pending" | "upgrading" | "done" | "rolledBack" | "skipped" | "failed";
export type WaveControl = "run" | "pause" | "cancel";
export type WaveStatus = "running" | "paused" | "succeeded" | "stopped" | "canceled" | "failed";

export interface WaveSlug {
  state: WaveSlugState;
  reason?: string;
  operationId?: string;
  /** Starts refused because the slug was busy with another operation. */
  busyAttempts?: number;
  /** The batch it ran in (0 = the canaries, when there are any). */
  batch?: number;
  updatedAt?: string;
}

export interface WaveRecord {
  id: string;
  actor: string;
  request: WaveRequest;
  /** Where it came from: the API, or a queue message (its id). */
  source: string;
  createdAt: string;
  updatedAt: string;
  status: WaveStatus;
  control: WaveControl;
  message: string;
  /** Canaries first, then the rest in the order batches take them (once resolved). */
  order?: string[];
  canaries?: number;
  counts: Partial<Record<WaveSlugState, number>>;
  slugs: Record<string, WaveSlug>;
  /** Batches finished so far. */
  batches: number;
}

export function countSlugs(slugs: Record<string, WaveSlug>): WaveRecord["counts"] {
  const counts: WaveRecord["counts"] = {};
  for (const slug of Object.values(slugs)) counts[slug.state] = (counts[slug.state] ?? 0) + 1;
  return counts;
}

/** A new wave's record, before its slugs are resolved. */
export function newWaveRecord(
  id: string,
  request: WaveRequest,
  actor: string,
  source: string,
  now: string,
): WaveRecord {
  return {
    id,
    actor,
    request,
    source,
    createdAt: now,
    updatedAt: now,
    status: "running",
    control: "run",
    message: "Wave started: resolving its slugs.",
    counts: {},
    slugs: {},
    batches: 0,
  };
}
