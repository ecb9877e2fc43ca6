/**
 * The Durable Task shapes the local host exchanges with durable-functions (durable-facts.md §2-§4):
 * history events as the extension writes them, orchestrator actions as the library returns them,
 * and the per-instance state this host persists.
 */

export enum HistoryEventType {
  ExecutionStarted = 0,
  ExecutionCompleted = 1,
  ExecutionFailed = 2,
  ExecutionTerminated = 3,
  TaskScheduled = 4,
  TaskCompleted = 5,
  TaskFailed = 6,
  SubOrchestrationInstanceCreated = 7,
  SubOrchestrationInstanceCompleted = 8,
  SubOrchestrationInstanceFailed = 9,
  TimerCreated = 10,
  TimerFired = 11,
  OrchestratorStarted = 12,
  OrchestratorCompleted = 13,
  EventSent = 14,
  EventRaised = 15,
  ContinueAsNew = 16,
  GenericEvent = 17,
  HistoryState = 18,
  ExecutionSuspended = 19,
  ExecutionResumed = 20,
}

export interface HistoryEvent {
  EventType: HistoryEventType;
  EventId: number;
  IsPlayed: boolean;
  /** ISO timestamp. */
  Timestamp: string;
  Name?: string;
  Input?: string;
  Result?: string;
  Reason?: string;
  Details?: string;
  TaskScheduledId?: number;
  TimerId?: number;
  FireAt?: string;
  InstanceId?: string;
  OrchestrationStatus?: string;
  /** ExecutionStarted: the instance and execution it starts, as DTFx's OrchestrationInstance. */
  OrchestrationInstance?: { InstanceId: string; ExecutionId: string };
  /** ExecutionStarted of a sub-orchestration: its parent (DTFx ParentInstance). */
  ParentInstance?: {
    Name: string;
    OrchestrationInstance: { InstanceId: string; ExecutionId: string };
    TaskScheduleId: number;
  };
}

export enum ActionType {
  CallActivity = 0,
  CallActivityWithRetry = 1,
  CallSubOrchestrator = 2,
  CallSubOrchestratorWithRetry = 3,
  ContinueAsNew = 4,
  CreateTimer = 5,
  WaitForExternalEvent = 6,
  CallEntity = 7,
  CallHttp = 8,
  SignalEntity = 9,
  WhenAny = 11,
  WhenAll = 12,
  LockEntities = 13,
  ReleaseEntities = 14,
}

export interface RetryOptions {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

export interface OrchestratorAction {
  actionType: ActionType;
  functionName?: string;
  input?: unknown;
  retryOptions?: RetryOptions;
  instanceId?: string;
  fireAt?: string;
  isCanceled?: boolean;
  externalEventName?: string;
  compoundActions?: OrchestratorAction[];
}

/** What the orchestrator function returns (or carries after `$OutOfProcData$:` when it fails). */
export interface OrchestratorState {
  isDone: boolean;
  actions: OrchestratorAction[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
  schemaVersion?: number;
}

export type RuntimeStatus =
  "Pending" | "Running" | "Completed" | "ContinuedAsNew" | "Failed" | "Terminated" | "Suspended";

export const TERMINAL_STATUSES: ReadonlySet<RuntimeStatus> = new Set(["Completed", "Failed", "Terminated"]);

/**
 * A task the host must perform on the orchestration's behalf. `executionId` is the execution that
 * scheduled it: its completion is dropped if the instance has moved on (continue-as-new,
 * terminate and restart), as the real backend drops messages with another ExecutionId.
 */
export type PendingWork =
  | { kind: "activity"; executionId: string; id: number; name: string; input: unknown }
  | { kind: "timer"; executionId: string; id: number; fireAt: string }
  | { kind: "subOrchestration"; executionId: string; id: number; name: string; instanceId: string; input: unknown };

/** Host-side bookkeeping for an action with retry options (durable-facts §4). */
export interface RetryState {
  kind: "activity" | "subOrchestration";
  name: string;
  input: unknown;
  retryOptions: RetryOptions;
  /** Attempt number the library is on (starts at 1, +1 per failure). */
  attempt: number;
  firstScheduledAt: string;
  /** Sub-orchestrations: the id the orchestrator gave; without one each attempt gets `<executionId>:<taskId>` (DTFx). */
  instanceId?: string;
}

export interface InstanceState {
  instanceId: string;
  /** This execution (new on start and on continue-as-new), 32 hex digits as DTFx makes them. */
  executionId: string;
  name: string;
  runtimeStatus: RuntimeStatus;
  input: unknown;
  output?: unknown;
  customStatus?: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  parentInstanceId?: string;
  /** Id of the SubOrchestrationInstanceCreated event in the parent. */
  parentTaskId?: number;
  /** The parent execution that created this child: a result for another execution is dropped. */
  parentExecutionId?: string;
  /** Every event already delivered to the orchestrator. */
  history: HistoryEvent[];
  /** Completions not yet delivered, oldest first; delivered one per replay. */
  inbox: HistoryEvent[];
  /** Next sequence number the library will give a task (mirrors TaskOrchestrationExecutor). */
  nextSequence: number;
  /**
   * Ids of the orchestrator's own tasks in the order it first yielded them (leaf i has id
   * scheduledIds[i]); retry attempts and retry timers are the host's and are not listed.
   */
  scheduledIds: number[];
  /** Re-yields seen so far (an already-scheduled task inside a new Task.any / Task.all). */
  reyields?: number;
  /** Work scheduled and not yet completed (re-dispatched after a restart). */
  outstanding: PendingWork[];
  /** Retry bookkeeping keyed by the id of the task/timer currently representing the retried action. */
  retries: Record<string, RetryState>;
  /** Task ids of retry timers, mapping to the retry state key they belong to. */
  retryTimers: Record<string, string>;
}
