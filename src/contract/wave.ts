/**
 * The wave orchestration's activities as it calls them (names, inputs, answers), apart from their
 * implementation (src/operations/wave-activities.ts).
 */
import type { WaveRequest } from "../model/wave";
import type { WaveControl, WaveSlug, WaveStatus } from "../operations/waves";

export const RESOLVE_WAVE = "resolveWave";
export const START_WAVE_UPGRADES = "startWaveUpgrades";
export const POLL_WAVE = "pollWave";
export const RECORD_WAVE = "recordWave";
/** The event the API raises on a wave's instance after it changed the wave's control. */
export const WAVE_CONTROL_EVENT = "waveControl";

export interface ResolveWaveInput {
  waveId: string;
  request: WaveRequest;
}

export interface ResolvedWave {
  order: string[];
  canaries: number;
  /** Slugs named in the request that Shire does not know (skipped). */
  unknown: string[];
  /** Named canaries that are not among the wave's slugs: the wave stops before it starts. */
  missingCanaries: string[];
}

export interface StartWaveInput {
  waveId: string;
  actor: string;
  image: string;
  allowMovingTag: boolean;
  /** When the wave started: with the wave id, the slug and the attempt it makes the operation id. */
  startedAt: string;
  starts: { slug: string; attempt: number }[];
}

export type StartOutcome =
  | { slug: string; result: "started"; operationId: string }
  /** Busy with another operation: try again later in the wave. */
  | { slug: string; result: "busy"; reason: string }
  /** Cannot be upgraded (not installed, refused): skipped with the reason. */
  | { slug: string; result: "refused"; reason: string };

export interface PollWaveInput {
  waveId: string;
  running: { slug: string; operationId: string }[];
}

export interface SlugOutcome {
  slug: string;
  state: "upgrading" | "done" | "rolledBack" | "failed";
  reason?: string;
}

export interface PolledWave {
  control: WaveControl;
  outcomes: SlugOutcome[];
}

export interface RecordWaveInput {
  waveId: string;
  updates: Record<string, WaveSlug>;
  status: WaveStatus;
  message: string;
  at: string;
  order?: string[];
  canaries?: number;
  batches?: number;
  /**
   * The wave has finished: slugs the record still shows pending or upgrading (a record write lost
   * in a crash) are looked up by the operation ids the wave gave them.
   */
  reconcile?: { startedAt: string; attempts: number };
}
