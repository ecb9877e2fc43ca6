/**
 * Turning an orchestrator's cumulative action list into the host's work, numbered the way the
 * library numbers its tasks (TaskOrchestrationExecutor.trackOpenTask), and checking it against
 * what the instance already scheduled, as DTFx's TaskOrchestrationContext does.
 *
 * Numbering: every task the orchestrator yields for the first time takes the next sequence
 * number, compound children in order, and WaitForExternalEvent takes none (it is matched by
 * name). A task yielded again, alone or inside a later Task.any / Task.all, keeps its id: the
 * library does not re-add it, and a compound that contains it holds the very same action
 * object. Object identity, within one replay's action list, is therefore what tells a re-yield
 * from a new, identical call.
 */
import { ActionType, HistoryEventType, type HistoryEvent, type OrchestratorAction } from "./types";

function isCompound(action: OrchestratorAction): boolean {
  return action.actionType === ActionType.WhenAll || action.actionType === ActionType.WhenAny;
}

/** Actions that take no task id: events are matched by name, continue-as-new ends the execution. */
function takesNoId(action: OrchestratorAction): boolean {
  return action.actionType === ActionType.WaitForExternalEvent || action.actionType === ActionType.ContinueAsNew;
}

export interface ScheduledLeaves {
  /** Distinct task actions, in the order the library gave them ids. */
  leaves: OrchestratorAction[];
  /** How many times an already-listed task action appeared again (re-yields). */
  reyields: number;
}

/**
 * The orchestrator's distinct task actions in id order. `actions` must be the handler's own
 * objects (not a JSON copy): identity is what marks a re-yield.
 */
export function scheduledLeaves(actions: readonly OrchestratorAction[]): ScheduledLeaves {
  const seen = new Set<OrchestratorAction>();
  const leaves: OrchestratorAction[] = [];
  let reyields = 0;
  const visit = (action: OrchestratorAction): void => {
    if (isCompound(action)) {
      for (const child of action.compoundActions ?? []) visit(child);
      return;
    }
    if (takesNoId(action)) return;
    if (seen.has(action)) {
      reyields++;
      return;
    }
    seen.add(action);
    leaves.push(action);
  };
  for (const action of actions) visit(action);
  return { leaves, reyields };
}

/** What kind of history event a task action is recorded as. */
export function scheduledEventType(action: OrchestratorAction): HistoryEventType | undefined {
  switch (action.actionType) {
    case ActionType.CallActivity:
    case ActionType.CallActivityWithRetry:
      return HistoryEventType.TaskScheduled;
    case ActionType.CallSubOrchestrator:
    case ActionType.CallSubOrchestratorWithRetry:
      return HistoryEventType.SubOrchestrationInstanceCreated;
    case ActionType.CreateTimer:
      return HistoryEventType.TimerCreated;
    default:
      return undefined;
  }
}

/** DTFx's names for the action a replay produced, as its messages print them. */
function dtfxActionName(action: OrchestratorAction): string {
  switch (scheduledEventType(action)) {
    case HistoryEventType.TaskScheduled:
      return "ScheduleTaskOrchestratorAction";
    case HistoryEventType.SubOrchestrationInstanceCreated:
      return "CreateSubOrchestrationAction";
    case HistoryEventType.TimerCreated:
      return "CreateTimerOrchestratorAction";
    default:
      return `${ActionType[action.actionType] ?? action.actionType}Action`;
  }
}

const CHANGED = "Was a change made to the orchestrator code after this instance had already started running?";

/**
 * DTFx's replay check: each task the instance scheduled before (its TaskScheduled / TimerCreated /
 * SubOrchestrationInstanceCreated event, found by the id it was given) must be produced again
 * with the same kind and name (names compared case-insensitively, inputs not compared). Throws
 * NonDeterminismError with DTFx's message (TaskOrchestrationContext.Handle*Event) otherwise.
 */
export function checkDeterminism(
  leaves: readonly OrchestratorAction[],
  scheduledIds: readonly number[],
  history: readonly HistoryEvent[],
): void {
  for (let index = 0; index < scheduledIds.length; index++) {
    const id = scheduledIds[index];
    const event = history.find((candidate) => candidate.EventId === id && isScheduledEvent(candidate));
    if (!event) continue; // not recorded yet (cannot happen once persisted); nothing to compare
    const action = leaves[index];
    const name = event.Name ?? "";
    switch (event.EventType) {
      case HistoryEventType.TaskScheduled:
        if (!action)
          throw nd(
            `A previous execution of this orchestration scheduled an activity task with sequence ID ${id} and name '${name}' (version ''), but the current replay execution hasn't (yet?) scheduled this task. ${CHANGED}`,
          );
        if (scheduledEventType(action) !== event.EventType)
          throw nd(
            `A previous execution of this orchestration scheduled an activity task with sequence number ${id} named '${name}', but the current orchestration replay instead produced a ${dtfxActionName(action)} action with this sequence number. ${CHANGED}`,
          );
        if (!sameName(name, action.functionName))
          throw nd(
            `A previous execution of this orchestration scheduled an activity task with sequence number ${id} named '${name}', but the current orchestration replay instead scheduled an activity task named '${action.functionName ?? ""}' with this sequence number.  ${CHANGED}`,
          );
        break;
      case HistoryEventType.TimerCreated:
        if (!action)
          throw nd(
            `A previous execution of this orchestration scheduled a timer task with sequence number ${id} but the current replay execution hasn't (yet?) scheduled this task. ${CHANGED}`,
          );
        if (scheduledEventType(action) !== event.EventType)
          throw nd(
            `A previous execution of this orchestration scheduled a timer task with sequence number ${id} named but the current orchestration replay instead produced a ${dtfxActionName(action)} action with this sequence number. ${CHANGED}`,
          );
        break;
      case HistoryEventType.SubOrchestrationInstanceCreated: {
        const what = `A previous execution of this orchestration scheduled a sub-orchestration task with sequence ID ${id} and name '${name}' (version '', instance ID '${event.InstanceId ?? ""}')`;
        if (!action)
          throw nd(`${what}, but the current replay execution hasn't (yet?) scheduled this task. ${CHANGED}`);
        if (scheduledEventType(action) !== event.EventType)
          throw nd(
            `${what}, but the current orchestration replay instead produced a ${dtfxActionName(action)} action at this sequence number. ${CHANGED}`,
          );
        if (!sameName(name, action.functionName))
          throw nd(
            `${what}, but the current orchestration replay instead scheduled a sub-orchestration task with name ${action.functionName ?? ""} at this sequence number. ${CHANGED}`,
          );
        break;
      }
      default:
        break;
    }
  }
}

function isScheduledEvent(event: HistoryEvent): boolean {
  return (
    event.EventType === HistoryEventType.TaskScheduled ||
    event.EventType === HistoryEventType.TimerCreated ||
    event.EventType === HistoryEventType.SubOrchestrationInstanceCreated
  );
}

function sameName(a: string, b: string | undefined): boolean {
  return a.toLowerCase() === (b ?? "").toLowerCase();
}

function nd(details: string): NonDeterminismError {
  return new NonDeterminismError(`Non-Deterministic workflow detected: ${details}`);
}

export class NonDeterminismError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NonDeterministicOrchestrationException";
  }
}

/** Retry delay the host applies before attempt `attempt + 1` (durable-facts §4). */
export function retryDelayMs(
  options: {
    firstRetryIntervalInMilliseconds: number;
    backoffCoefficient?: number;
    maxRetryIntervalInMilliseconds?: number;
  },
  failedAttempt: number,
): number {
  const delay = options.firstRetryIntervalInMilliseconds * Math.pow(options.backoffCoefficient ?? 1, failedAttempt - 1);
  const cap =
    options.maxRetryIntervalInMilliseconds && options.maxRetryIntervalInMilliseconds > 0
      ? options.maxRetryIntervalInMilliseconds
      : Number.POSITIVE_INFINITY;
  return Math.min(delay, cap);
}
