/**
 * Turning an orchestrator's cumulative action list into the host's work, the way the library
 * numbers its tasks (TaskOrchestrationExecutor.trackOpenTask): every new task yielded takes the
 * next sequence number, compound children in order; a task re-yielded inside a later Task.any /
 * Task.all keeps the id it already has, and WaitForExternalEvent takes none.
 */
import { ActionType, type OrchestratorAction } from "./types";

/** Actions that are compounds of other actions. */
function isCompound(action: OrchestratorAction): boolean {
  return action.actionType === ActionType.WhenAll || action.actionType === ActionType.WhenAny;
}

/** Leaf actions of one top-level entry, in the order the library tracks them. */
export function leaves(action: OrchestratorAction): OrchestratorAction[] {
  return isCompound(action) ? (action.compoundActions ?? []).flatMap(leaves) : [action];
}

/** Identity of a leaf action for re-yield detection and determinism checks. */
export function actionKey(action: OrchestratorAction): string {
  return JSON.stringify([action.actionType, action.functionName ?? null, action.input ?? null, action.instanceId ?? null, action.fireAt ?? null, action.externalEventName ?? null]);
}

export interface NewTask {
  action: OrchestratorAction;
}

/**
 * Compare the orchestrator's top-level entries with those seen in earlier replays and return the
 * new leaf tasks, in id order. Throws NonDeterminismError when the known prefix no longer matches.
 * A leaf inside a compound that equals a leaf of an EARLIER entry is a re-yield of that task (the
 * JSON cannot carry object identity; two distinct identical calls yielded into a later compound are
 * the one pattern this cannot tell apart, see src/runtime/README.md).
 */
export function newTasks(known: OrchestratorAction[], current: OrchestratorAction[]): NewTask[] {
  for (let index = 0; index < known.length; index++) {
    const before = known[index];
    const now = current[index];
    if (!now || !sameShape(before, now)) {
      throw new NonDeterminismError(
        `Non-deterministic workflow detected: action ${index} was ${describe(before)} when first run and is ${now ? describe(now) : "missing"} on replay.`,
      );
    }
  }
  const earlierLeaves = new Set(known.flatMap(leaves).map(actionKey));
  const tasks: NewTask[] = [];
  for (const entry of current.slice(known.length)) {
    const entryLeaves = leaves(entry);
    for (const leaf of entryLeaves) {
      if (leaf.actionType === ActionType.WaitForExternalEvent) continue;
      if (isCompound(entry) && earlierLeaves.has(actionKey(leaf))) continue;
      tasks.push({ action: leaf });
    }
    for (const leaf of entryLeaves) earlierLeaves.add(actionKey(leaf));
  }
  return tasks;
}

function sameShape(a: OrchestratorAction, b: OrchestratorAction): boolean {
  if (a.actionType !== b.actionType || (a.functionName ?? "") !== (b.functionName ?? "")) return false;
  const aLeaves = leaves(a);
  const bLeaves = leaves(b);
  if (aLeaves.length !== bLeaves.length) return false;
  return aLeaves.every((leaf, i) => leaf.actionType === bLeaves[i].actionType && (leaf.functionName ?? "") === (bLeaves[i].functionName ?? ""));
}

function describe(action: OrchestratorAction): string {
  const name = action.functionName ? ` '${action.functionName}'` : "";
  return `${ActionType[action.actionType] ?? action.actionType}${name}`;
}

export class NonDeterminismError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NonDeterministicOrchestrationError";
  }
}

/** Retry delay the host applies before attempt `attempt + 1` (durable-facts §4). */
export function retryDelayMs(options: { firstRetryIntervalInMilliseconds: number; backoffCoefficient?: number; maxRetryIntervalInMilliseconds?: number }, failedAttempt: number): number {
  const delay = options.firstRetryIntervalInMilliseconds * Math.pow(options.backoffCoefficient ?? 1, failedAttempt - 1);
  const cap = options.maxRetryIntervalInMilliseconds && options.maxRetryIntervalInMilliseconds > 0 ? options.maxRetryIntervalInMilliseconds : Number.POSITIVE_INFINITY;
  return Math.min(delay, cap);
}
