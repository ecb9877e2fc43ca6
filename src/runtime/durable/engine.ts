/**
 * The Durable Task extension's part of the local host: keeps each instance's history, replays it
 * through the real durable-functions orchestrator code, executes the actions it returns
 * (activities, retries, sub-orchestrations, timers, external events, continue-as-new, custom
 * status) and answers the durable client's management calls (see management.ts).
 *
 * Replay model: every completion lands in the instance's inbox and is delivered on its own
 * replay (OrchestratorStarted + that one event). One event per replay keeps the host's task
 * numbering in lockstep with the library's (retries take ids while events are processed).
 * State is persisted after every change, before any work it implies is dispatched, so a host
 * killed at any point resumes from disk: unfinished activities run again (at-least-once).
 *
 * Executions: an instance id is reused by continue-as-new and by a restart after terminate, and
 * task ids start again at 0 each time. Every piece of work therefore carries the execution id
 * that scheduled it, and a completion for another execution is dropped, as the real backend
 * drops messages whose ExecutionId no longer matches.
 */
import type http from "node:http";
import { randomUUID } from "node:crypto";
import type { CoreApiRecorder, RpcTypedData } from "../worker/core-api";
import {
  FunctionInvocationError,
  findTriggerBinding,
  fromTypedData,
  invokeFunction,
  type OutputSink,
} from "../worker/invoke";
import { InstanceStore } from "./store";
import { checkDeterminism, NonDeterminismError, retryDelayMs, scheduledLeaves } from "./actions";
import { handleManagementRequest } from "./management";
import { TimerTable, type DurableTimer } from "./timer-table";
import { WEBHOOK_PREFIX, durableClientInputData } from "./client-binding";
import {
  activityTriggerData,
  MissingActivityError,
  parseOrchestratorFailure,
  parseToken,
  safeParse,
  serializeInput,
} from "./payloads";
import {
  ActionType,
  HistoryEventType,
  TERMINAL_STATUSES,
  type HistoryEvent,
  type InstanceState,
  type OrchestratorAction,
  type OrchestratorState,
  type PendingWork,
  type RuntimeStatus,
} from "./types";

/**
 * The engine's clock. A clock with `advance` is manual: its timers fire only when a test moves
 * it, unless it also says `realTime` (it runs on its own and a test may jump it forward: a grace
 * period of days passes at once while retries of seconds still happen by themselves). Any other
 * clock runs in real time (setTimeout), reading `now()` for when a timer is due.
 */
export interface DurableClock {
  now(): number;
  advance?(ms: number): void;
  realTime?: boolean;
}

/** Real time that a test can jump forward (`advanceTime`): timers due by the jump fire at once. */
export class JumpClock implements DurableClock {
  readonly realTime = true;
  private offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  advance(ms: number): void {
    this.offset += ms;
  }
}

export interface DurableFaults {
  /** Run matching activities twice (at-least-once delivery); the second result is recorded. */
  duplicateActivityDelivery?: boolean | ((activityName: string) => boolean);
  /** Exit the process (code 137) right after the Nth history event this process persists. */
  crashAfterHistoryEvents?: number;
}

export interface DurableEngineOptions {
  recorder: CoreApiRecorder;
  stateDir: string;
  hubName: string;
  /** Origin the webhooks are served on, e.g. http://127.0.0.1:7071 */
  baseUrl: string;
  maxConcurrentActivities?: number;
  maxConcurrentOrchestrations?: number;
  clock?: DurableClock;
  faults?: DurableFaults;
  log?: (level: string, message: string) => void;
  /** Output bindings of activities (storage queue messages...); see worker/bindings.ts. */
  outputs?: OutputSink;
  /** Called instead of process.exit for the crash fault (tests in-process). */
  onCrash?: () => never;
}

export interface ReplaySample {
  instanceId: string;
  historyEvents: number;
  cpuMicros: number;
  wallMs: number;
}

/** DTFx refuses to create an instance whose id is still in use (OrchestrationAlreadyExistsException). */
export class InstanceConflictError extends Error {
  constructor(
    readonly instanceId: string,
    readonly status: RuntimeStatus,
  ) {
    super(`An Orchestration instance with the status ${status} already exists.`);
    this.name = "OrchestrationAlreadyExistsException";
  }
}

/** The extension's ArgumentException for a name that is not an orchestrator function. */
export class UnknownFunctionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArgumentException";
  }
}

/** An action the local host does not implement (entities, callHttp...). */
class UnsupportedActionError extends Error {}

/** Timers longer than this are split by the library; the extension's defaults. */
const MAXIMUM_SHORT_TIMER = "6.00:00:00";
const LONG_TIMER_INTERVAL = "3.00:00:00";
/** ReplaySchema V4 (durable-facts §2). */
const UPPER_SCHEMA_VERSION = 3;

/** DTFx makes instance and execution ids with Guid.ToString("N"): 32 hex digits. */
function newGuid(): string {
  return randomUUID().replace(/-/g, "");
}

export class DurableEngine {
  readonly webhookPrefix = WEBHOOK_PREFIX;
  faults: DurableFaults;
  private readonly store: InstanceStore;
  private readonly clock: DurableClock;
  private readonly instances = new Map<string, InstanceState>();
  private readonly pumping = new Map<string, Promise<void>>();
  private readonly timers: TimerTable;
  private readonly inFlight = new Set<Promise<unknown>>();
  private activitySlots: number;
  private readonly activityQueue: (() => void)[] = [];
  private eventsPersisted = 0;
  private stopped = true;
  /**
   * Told of every replay: the history handed to the orchestrator (events) and what serializing it
   * and running the orchestrator's code over it cost (CPU and wall time). For the overhead bench.
   */
  onReplay?: (sample: ReplaySample) => void;

  constructor(private readonly options: DurableEngineOptions) {
    this.store = new InstanceStore(options.stateDir, options.hubName);
    this.clock = options.clock ?? { now: () => Date.now() };
    this.faults = options.faults ?? {};
    this.activitySlots = Math.max(1, options.maxConcurrentActivities ?? 10);
    // A clock that can advance is manual (its timers fire only when a test moves it), unless it runs in real time too.
    this.timers = new TimerTable(
      () => this.clock.now(),
      typeof this.clock.advance === "function" && this.clock.realTime !== true,
      (timer) => this.timerDue(timer),
    );
  }

  private log(level: string, message: string): void {
    this.options.log?.(level, message);
  }

  /** Load persisted instances and resume every one that has not finished. */
  async start(): Promise<void> {
    this.stopped = false;
    // Finished instances stay on disk (read when asked for): memory holds the running ones.
    for (const id of this.store.ids()) {
      const state = this.store.load(id);
      if (state && !TERMINAL_STATUSES.has(state.runtimeStatus)) this.instances.set(id, state);
    }
    for (const state of this.instances.values()) {
      if (TERMINAL_STATUSES.has(state.runtimeStatus)) continue;
      if (!state.executionId || !state.scheduledIds) {
        // Written by a host version without execution ids: its outstanding work cannot be matched safely.
        state.executionId ??= newGuid();
        state.scheduledIds ??= [];
        this.fail(
          state,
          "This instance was persisted by an older version of the local host and cannot be resumed.",
          "",
        );
        continue;
      }
      // A copy: dispatching a finished child's result completes (splices) work from the list.
      for (const work of [...state.outstanding]) this.dispatch(state, work);
      this.schedulePump(state.instanceId);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.clearAll();
    // Activities still waiting for a slot wake up, see the engine stopped, and never run.
    for (const wake of this.activityQueue.splice(0)) wake();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Resolves when nothing is running or queued (future timers do not count). */
  async waitForIdle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Move the engine's clock (manual clocks) and fire every timer now due. */
  async advanceTime(ms: number): Promise<void> {
    this.clock.advance?.(ms);
    this.timers.fireDue();
    await this.waitForIdle();
  }

  // ----- client operations (used by management.ts) -----

  /** The registered orchestrator function for `name` (function names are case-insensitive in Functions). */
  orchestratorName(name: string): string | undefined {
    return this.functionNamed(name, "orchestrationTrigger");
  }

  /** The extension's ThrowIfFunctionDoesNotExist for orchestrators. */
  requireOrchestrator(name: string): string {
    const registered = this.orchestratorName(name);
    if (!registered) throw new UnknownFunctionError(this.unknownOrchestratorMessage(name));
    return registered;
  }

  startInstance(
    name: string,
    instanceId: string | undefined,
    input: unknown,
    parent?: { instanceId: string; executionId: string; taskId: number },
  ): InstanceState {
    this.requireOrchestrator(name);
    const id = instanceId ?? newGuid();
    const existing = this.instances.get(id) ?? this.store.load(id);
    if (existing && !TERMINAL_STATUSES.has(existing.runtimeStatus))
      throw new InstanceConflictError(id, existing.runtimeStatus);
    // Overwriting a finished instance: its leftover timers belong to a dead execution.
    if (existing) this.timers.clear(id);
    const now = this.isoNow();
    const executionId = newGuid();
    const state: InstanceState = {
      instanceId: id,
      executionId,
      name,
      runtimeStatus: "Pending",
      input,
      createdTime: now,
      lastUpdatedTime: now,
      parentInstanceId: parent?.instanceId,
      parentTaskId: parent?.taskId,
      parentExecutionId: parent?.executionId,
      history: [],
      inbox: [this.executionStarted(id, executionId, name, input, parent)],
      nextSequence: 0,
      scheduledIds: [],
      outstanding: [],
      retries: {},
      retryTimers: {},
    };
    this.instances.set(id, state);
    this.persist(state, 1);
    this.schedulePump(id);
    return state;
  }

  /** Instances held in memory: the running ones (finished ones are read from disk when asked for). */
  residentInstances(): number {
    return this.instances.size;
  }

  /** Bytes of an instance's state file on disk. */
  stateFileBytes(instanceId: string): number {
    return this.store.sizeOf(instanceId);
  }

  /** A running instance from memory, a finished one from disk. */
  getInstance(instanceId: string): InstanceState | undefined {
    return this.instances.get(instanceId) ?? this.store.load(instanceId);
  }

  /** Every instance: the running ones in memory and the finished ones read from disk (list queries only). */
  listInstances(): InstanceState[] {
    const running = [...this.instances.values()];
    const finished = this.store
      .ids()
      .filter((id) => !this.instances.has(id))
      .map((id) => this.store.load(id))
      .filter((state): state is InstanceState => state !== undefined);
    return [...running, ...finished];
  }

  /** Returns false when the instance exists but is no longer running (HTTP 410). */
  raiseEvent(instanceId: string, eventName: string, data: unknown): boolean {
    const state = this.getInstance(instanceId);
    if (!state) throw new Error(`No instance with ID '${instanceId}' was found.`);
    if (TERMINAL_STATUSES.has(state.runtimeStatus)) return false;
    state.inbox.push(
      this.event(HistoryEventType.EventRaised, {
        Name: eventName,
        Input: data === undefined ? undefined : JSON.stringify(data),
      }),
    );
    this.persist(state, 1);
    this.schedulePump(instanceId);
    return true;
  }

  terminate(instanceId: string, reason: string): boolean {
    const state = this.getInstance(instanceId);
    if (!state) throw new Error(`No instance with ID '${instanceId}' was found.`);
    if (TERMINAL_STATUSES.has(state.runtimeStatus)) return false;
    // DTFx: ExecutionTerminated carries the reason as sent; the execution completes with it as output.
    state.runtimeStatus = "Terminated";
    state.output = parseToken(reason);
    state.outstanding = [];
    state.inbox = [];
    this.timers.clear(instanceId);
    state.history.push(this.event(HistoryEventType.ExecutionTerminated, { Input: reason }));
    state.history.push(
      this.event(HistoryEventType.ExecutionCompleted, { Result: reason, OrchestrationStatus: "Terminated" }),
    );
    this.persist(state, 2);
    this.notifyParent(state, false, reason);
    return true;
  }

  purge(instanceId: string): boolean {
    const inMemory = this.instances.delete(instanceId);
    this.timers.clear(instanceId);
    return this.store.delete(instanceId) || inMemory;
  }

  /** DELETE instances/?createdTimeFrom=...: purge every instance created in the range with one of the statuses. */
  purgeBy(createdFrom: Date, createdTo: Date, statuses: RuntimeStatus[]): number {
    let deleted = 0;
    for (const state of this.listInstances()) {
      const created = Date.parse(state.createdTime);
      if (created < createdFrom.getTime() || created > createdTo.getTime()) continue;
      if (statuses.length > 0 && !statuses.includes(state.runtimeStatus)) continue;
      if (this.purge(state.instanceId)) deleted++;
    }
    return deleted;
  }

  handleHttp(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    return handleManagementRequest(this, req, res, body);
  }

  /** The `durableClient` input binding's value (durable-facts §5). */
  clientInputData(): RpcTypedData {
    return durableClientInputData(this.options.baseUrl, this.options.hubName);
  }

  get hubName(): string {
    return this.options.hubName;
  }

  // ----- replay -----

  private schedulePump(instanceId: string): void {
    if (this.stopped || this.pumping.has(instanceId)) return;
    const run = (async () => {
      try {
        await this.pump(instanceId);
      } finally {
        this.pumping.delete(instanceId);
      }
      const state = this.instances.get(instanceId);
      if (state && state.inbox.length > 0 && !TERMINAL_STATUSES.has(state.runtimeStatus)) this.schedulePump(instanceId);
    })();
    this.pumping.set(instanceId, run);
    this.track(run);
  }

  private async pump(instanceId: string): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const state = this.instances.get(instanceId);
      if (!state || TERMINAL_STATUSES.has(state.runtimeStatus) || state.inbox.length === 0) return;
      await this.replayOnce(state);
    }
  }

  private async replayOnce(state: InstanceState): Promise<void> {
    const delivered = state.inbox[0];
    const executionId = state.executionId;
    const started = this.event(HistoryEventType.OrchestratorStarted, {});
    const played = state.history.map((event) => ({ ...event, IsPlayed: true }));
    const history = [...played, started, { ...delivered, IsPlayed: false }];
    const binding = {
      history,
      input: state.input,
      instanceId: state.instanceId,
      parentInstanceId: state.parentInstanceId,
      isReplaying: state.history.length > 0,
      upperSchemaVersion: UPPER_SCHEMA_VERSION,
      upperSchemaVersionNew: UPPER_SCHEMA_VERSION,
      maximumShortTimerDuration: MAXIMUM_SHORT_TIMER,
      longRunningTimerIntervalDuration: LONG_TIMER_INTERVAL,
      defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
    };

    let outcome: {
      state: OrchestratorState;
      actions: readonly OrchestratorAction[];
      failure?: string;
      details?: string;
    };
    const measure = this.onReplay ? { cpu: process.cpuUsage(), at: performance.now() } : undefined;
    try {
      const result = await invokeFunction(this.options.recorder, this.orchestratorName(state.name) ?? state.name, {
        json: JSON.stringify(binding),
      });
      if (measure) {
        const cpu = process.cpuUsage(measure.cpu);
        this.onReplay?.({
          instanceId: state.instanceId,
          historyEvents: history.length,
          cpuMicros: cpu.user + cpu.system,
          wallMs: performance.now() - measure.at,
        });
      }
      const typed = fromTypedData(result.response.returnValue) as OrchestratorState;
      // The handler's own object keeps the identity of re-yielded actions; the JSON copy cannot.
      const raw = result.result as Partial<OrchestratorState> | undefined;
      outcome = {
        state: typed,
        actions: Array.isArray(raw?.actions?.[0]) ? raw.actions[0] : (typed.actions?.[0] ?? []),
      };
    } catch (error) {
      outcome = { ...parseOrchestratorFailure(state.name, error), actions: [] };
    }

    // User code (and app hooks) ran asynchronously: a terminate, purge or restart may have
    // happened meanwhile, and its outcome must not be overwritten by this stale replay.
    if (
      this.instances.get(state.instanceId) !== state ||
      state.executionId !== executionId ||
      TERMINAL_STATUSES.has(state.runtimeStatus) ||
      state.inbox[0] !== delivered
    )
      return;

    // The delivered event and the replay marker are now history.
    state.inbox.shift();
    state.history.push(started, delivered);
    if (state.runtimeStatus === "Pending" || state.runtimeStatus === "ContinuedAsNew") state.runtimeStatus = "Running";
    if (outcome.state.customStatus !== undefined) state.customStatus = outcome.state.customStatus;

    if (outcome.failure !== undefined) {
      this.fail(state, outcome.failure, outcome.details ?? "");
      return;
    }

    const newWork: PendingWork[] = [];
    try {
      this.applyRetryBookkeeping(state, delivered, newWork);
      const { leaves, reyields } = scheduledLeaves(outcome.actions);
      checkDeterminism(leaves, state.scheduledIds, state.history);
      for (const leaf of leaves.slice(state.scheduledIds.length))
        state.scheduledIds.push(this.scheduleAction(state, leaf, newWork));
      if (reyields > (state.reyields ?? 0)) {
        state.reyields = reyields;
        // The library keeps the task's id; Azure's extension schedules it again (azure-functions-durable-js#574).
        this.log(
          "warning",
          `Orchestration ${state.name} (${state.instanceId}) yielded an already-scheduled task inside a new Task.any/Task.all. The local host keeps the task, as durable-functions intends; on Azure the extension schedules it again (azure-functions-durable-js#574).`,
        );
      }
    } catch (error) {
      if (error instanceof NonDeterminismError || error instanceof UnsupportedActionError) {
        this.fail(
          state,
          error.message,
          `Unhandled exception while executing orchestration: ${error.stack ?? error.message}`,
        );
        return;
      }
      throw error;
    }

    if (outcome.state.isDone) {
      const continueAsNew = outcome.actions.find((action) => action.actionType === ActionType.ContinueAsNew);
      if (continueAsNew) {
        this.continueAsNew(state, continueAsNew.input);
        return;
      }
      state.runtimeStatus = "Completed";
      state.output = outcome.state.output;
      state.outstanding = [];
      this.timers.clear(state.instanceId);
      state.history.push(
        this.event(HistoryEventType.ExecutionCompleted, {
          Result: JSON.stringify(outcome.state.output ?? null),
          OrchestrationStatus: "Completed",
        }),
      );
      state.history.push(this.event(HistoryEventType.OrchestratorCompleted, {}));
      this.persist(state, 4);
      this.notifyParent(state, true, outcome.state.output);
      return;
    }
    state.history.push(this.event(HistoryEventType.OrchestratorCompleted, {}));
    state.outstanding.push(...newWork);
    this.persist(state, 3 + newWork.length);
    for (const work of newWork) this.dispatch(state, work);
  }

  /** Retry ids are taken while the library processes the delivered event, before new tasks. */
  private applyRetryBookkeeping(state: InstanceState, delivered: HistoryEvent, newWork: PendingWork[]): void {
    // A retried call that succeeded needs no more bookkeeping (kept, it would grow the state by
    // every call's input for the rest of the execution).
    if (
      (delivered.EventType === HistoryEventType.TaskCompleted ||
        delivered.EventType === HistoryEventType.SubOrchestrationInstanceCompleted) &&
      delivered.TaskScheduledId !== undefined
    )
      delete state.retries[String(delivered.TaskScheduledId)];
    const failedId =
      delivered.EventType === HistoryEventType.TaskFailed ||
      delivered.EventType === HistoryEventType.SubOrchestrationInstanceFailed
        ? delivered.TaskScheduledId
        : undefined;
    if (failedId !== undefined && state.retries[String(failedId)]) {
      const retry = state.retries[String(failedId)];
      delete state.retries[String(failedId)];
      const timerId = state.nextSequence++;
      const fireAt = new Date(this.clock.now() + retryDelayMs(retry.retryOptions, retry.attempt)).toISOString();
      retry.attempt++;
      state.retries[`timer:${timerId}`] = retry;
      state.retryTimers[String(timerId)] = `timer:${timerId}`;
      state.history.push(this.event(HistoryEventType.TimerCreated, { EventId: timerId, FireAt: fireAt }));
      newWork.push({ kind: "timer", executionId: state.executionId, id: timerId, fireAt });
      return;
    }
    if (delivered.EventType === HistoryEventType.TimerFired && state.retryTimers[String(delivered.TimerId)]) {
      const key = state.retryTimers[String(delivered.TimerId)];
      delete state.retryTimers[String(delivered.TimerId)];
      const retry = state.retries[key];
      delete state.retries[key];
      if (!retry || retry.attempt > retry.retryOptions.maxNumberOfAttempts) return; // the library now throws
      const id = state.nextSequence++;
      state.retries[String(id)] = retry;
      if (retry.kind === "activity") {
        state.history.push(
          this.event(HistoryEventType.TaskScheduled, {
            EventId: id,
            Name: retry.name,
            Input: serializeInput(retry.input),
          }),
        );
        newWork.push({ kind: "activity", executionId: state.executionId, id, name: retry.name, input: retry.input });
      } else {
        // DTFx's RetryInterceptor creates the sub-orchestration again: a default id is new each attempt.
        const instanceId = retry.instanceId || `${state.executionId}:${id}`;
        state.history.push(
          this.event(HistoryEventType.SubOrchestrationInstanceCreated, {
            EventId: id,
            Name: retry.name,
            InstanceId: instanceId,
            Input: serializeInput(retry.input),
          }),
        );
        newWork.push({
          kind: "subOrchestration",
          executionId: state.executionId,
          id,
          name: retry.name,
          instanceId,
          input: retry.input,
        });
      }
    }
  }

  /** Record a new task of the orchestrator's and return the id it takes. */
  private scheduleAction(state: InstanceState, action: OrchestratorAction, newWork: PendingWork[]): number {
    const now = this.isoNow();
    const executionId = state.executionId;
    switch (action.actionType) {
      case ActionType.CallActivity:
      case ActionType.CallActivityWithRetry: {
        const id = state.nextSequence++;
        const name = action.functionName ?? "";
        state.history.push(
          this.event(HistoryEventType.TaskScheduled, { EventId: id, Name: name, Input: serializeInput(action.input) }),
        );
        newWork.push({ kind: "activity", executionId, id, name, input: action.input });
        if (action.actionType === ActionType.CallActivityWithRetry && action.retryOptions) {
          state.retries[String(id)] = {
            kind: "activity",
            name,
            input: action.input,
            retryOptions: action.retryOptions,
            attempt: 1,
            firstScheduledAt: now,
          };
        }
        return id;
      }
      case ActionType.CallSubOrchestrator:
      case ActionType.CallSubOrchestratorWithRetry: {
        const id = state.nextSequence++;
        const name = action.functionName ?? "";
        // DTFx CreateSubOrchestrationInstanceCore: without an id the child is `<parent ExecutionId>:<task id>`.
        const instanceId = action.instanceId || `${executionId}:${id}`;
        state.history.push(
          this.event(HistoryEventType.SubOrchestrationInstanceCreated, {
            EventId: id,
            Name: name,
            InstanceId: instanceId,
            Input: serializeInput(action.input),
          }),
        );
        newWork.push({ kind: "subOrchestration", executionId, id, name, instanceId, input: action.input });
        if (action.actionType === ActionType.CallSubOrchestratorWithRetry && action.retryOptions) {
          state.retries[String(id)] = {
            kind: "subOrchestration",
            name,
            input: action.input,
            retryOptions: action.retryOptions,
            attempt: 1,
            firstScheduledAt: now,
            instanceId: action.instanceId || undefined,
          };
        }
        return id;
      }
      case ActionType.CreateTimer: {
        const id = state.nextSequence++;
        const fireAt = new Date(action.fireAt ?? now).toISOString();
        state.history.push(this.event(HistoryEventType.TimerCreated, { EventId: id, FireAt: fireAt }));
        newWork.push({ kind: "timer", executionId, id, fireAt });
        return id;
      }
      default:
        throw new UnsupportedActionError(
          `Action type ${ActionType[action.actionType] ?? action.actionType} is not supported by the local host.`,
        );
    }
  }

  /**
   * A new execution of the same instance: fresh history and ids, a new execution id. Events
   * raised and not yet delivered carry over (they address the instance, not the execution);
   * completions of the old execution's work are dropped when they arrive.
   */
  private continueAsNew(state: InstanceState, input: unknown): void {
    const parsed = typeof input === "string" ? safeParse(input) : input;
    this.timers.clear(state.instanceId);
    const executionId = newGuid();
    const parent =
      state.parentInstanceId && state.parentExecutionId !== undefined && state.parentTaskId !== undefined
        ? { instanceId: state.parentInstanceId, executionId: state.parentExecutionId, taskId: state.parentTaskId }
        : undefined;
    state.runtimeStatus = "ContinuedAsNew";
    state.executionId = executionId;
    state.input = parsed;
    state.history = [];
    state.inbox = [
      this.executionStarted(state.instanceId, executionId, state.name, parsed, parent),
      ...state.inbox.filter((event) => event.EventType === HistoryEventType.EventRaised),
    ];
    state.nextSequence = 0;
    state.scheduledIds = [];
    state.reyields = 0;
    state.outstanding = [];
    state.retries = {};
    state.retryTimers = {};
    this.persist(state, 1);
  }

  private fail(state: InstanceState, reason: string, details: string): void {
    state.runtimeStatus = "Failed";
    state.output = reason;
    state.outstanding = [];
    this.timers.clear(state.instanceId);
    // DTFx records a failure as ExecutionCompleted with status Failed and the reason as its result.
    state.history.push(
      this.event(HistoryEventType.ExecutionCompleted, { Result: reason, OrchestrationStatus: "Failed" }),
    );
    this.persist(state, 1);
    this.log("error", `Orchestration ${state.name} (${state.instanceId}) failed: ${reason}`);
    this.notifyParent(state, false, reason, details);
  }

  private notifyParent(child: InstanceState, succeeded: boolean, result: unknown, details = ""): void {
    if (!child.parentInstanceId || child.parentTaskId === undefined) return;
    const parent = this.instances.get(child.parentInstanceId);
    if (!parent || TERMINAL_STATUSES.has(parent.runtimeStatus)) return;
    this.completeWork(
      parent,
      child.parentExecutionId ?? parent.executionId,
      child.parentTaskId,
      succeeded
        ? this.event(HistoryEventType.SubOrchestrationInstanceCompleted, {
            TaskScheduledId: child.parentTaskId,
            Result: JSON.stringify(result ?? null),
          })
        : this.event(HistoryEventType.SubOrchestrationInstanceFailed, {
            TaskScheduledId: child.parentTaskId,
            Reason: String(result),
            Details: details,
          }),
    );
  }

  /** Record a completion for outstanding work `id` of execution `executionId`; anything else is stale and dropped. */
  private completeWork(state: InstanceState, executionId: string, id: number, completion: HistoryEvent): void {
    if (state.executionId !== executionId) {
      this.log(
        "debug",
        `Dropped a ${HistoryEventType[completion.EventType]} for task ${id} of an earlier execution of ${state.instanceId}.`,
      );
      return;
    }
    const index = state.outstanding.findIndex((work) => work.id === id && work.executionId === executionId);
    if (index < 0) return;
    state.outstanding.splice(index, 1);
    state.inbox.push(completion);
    this.persist(state, 1);
    this.schedulePump(state.instanceId);
  }

  // ----- work -----

  private dispatch(state: InstanceState, work: PendingWork): void {
    switch (work.kind) {
      case "activity":
        this.track(this.runActivity(state.instanceId, work));
        return;
      case "timer":
        this.timers.arm({
          instanceId: state.instanceId,
          executionId: work.executionId,
          id: work.id,
          fireAt: Date.parse(work.fireAt),
        });
        return;
      case "subOrchestration": {
        const child = this.getInstance(work.instanceId);
        if (
          child &&
          child.parentInstanceId === state.instanceId &&
          child.parentTaskId === work.id &&
          child.parentExecutionId === work.executionId
        ) {
          // Already started (we are resuming after a restart): deliver its result if it finished.
          if (TERMINAL_STATUSES.has(child.runtimeStatus))
            this.notifyParent(child, child.runtimeStatus === "Completed", child.output, "");
          return;
        }
        try {
          this.startInstance(work.name, work.instanceId, work.input, {
            instanceId: state.instanceId,
            executionId: work.executionId,
            taskId: work.id,
          });
        } catch (error) {
          this.completeWork(
            state,
            work.executionId,
            work.id,
            this.event(HistoryEventType.SubOrchestrationInstanceFailed, {
              TaskScheduledId: work.id,
              Reason: (error as Error).message,
              Details: "",
            }),
          );
        }
        return;
      }
    }
  }

  private async runActivity(instanceId: string, work: Extract<PendingWork, { kind: "activity" }>): Promise<void> {
    await this.acquireActivitySlot();
    if (this.stopped) {
      this.releaseActivitySlot();
      return;
    }
    let completion: HistoryEvent;
    try {
      const functionName = this.functionNamed(work.name, "activityTrigger");
      if (!functionName) throw new MissingActivityError(work.name);
      const duplicate = this.faults.duplicateActivityDelivery;
      const deliveries = duplicate === true || (typeof duplicate === "function" && duplicate(work.name)) ? 2 : 1;
      let result: RpcTypedData | undefined;
      for (let delivery = 0; delivery < deliveries; delivery++) {
        const response = await invokeFunction(this.options.recorder, functionName, activityTriggerData(work.input), {
          extraInputsByType: { durableClient: this.clientInputData() },
          outputs: this.options.outputs,
        });
        result = response.response.returnValue;
      }
      // An activity that returns nothing completes with a null result (TaskActivityShim), never "undefined".
      completion = this.event(HistoryEventType.TaskCompleted, {
        TaskScheduledId: work.id,
        Result: JSON.stringify(fromTypedData(result) ?? null),
      });
    } catch (error) {
      const cause = error instanceof FunctionInvocationError ? error.cause : error;
      const message = cause instanceof Error ? cause.message : String(cause);
      completion = this.event(HistoryEventType.TaskFailed, {
        TaskScheduledId: work.id,
        Reason: `Activity function '${work.name}' failed: ${message}`,
        Details: cause instanceof Error ? (cause.stack ?? message) : message,
      });
    } finally {
      this.releaseActivitySlot();
    }
    if (this.stopped) return;
    const state = this.instances.get(instanceId);
    if (state && !TERMINAL_STATUSES.has(state.runtimeStatus))
      this.completeWork(state, work.executionId, work.id, completion);
  }

  private acquireActivitySlot(): Promise<void> {
    if (this.activitySlots > 0) {
      this.activitySlots--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.activityQueue.push(resolve));
  }

  private releaseActivitySlot(): void {
    const next = this.activityQueue.shift();
    if (next) next();
    else this.activitySlots++;
  }

  private timerDue(timer: DurableTimer): void {
    const state = this.instances.get(timer.instanceId);
    if (!state || TERMINAL_STATUSES.has(state.runtimeStatus)) return;
    this.completeWork(
      state,
      timer.executionId,
      timer.id,
      this.event(HistoryEventType.TimerFired, { TimerId: timer.id, FireAt: new Date(timer.fireAt).toISOString() }),
    );
  }

  // ----- plumbing -----

  /** A registered function with this trigger type, matched case-insensitively as Functions does. */
  private functionNamed(name: string, triggerType: string): string | undefined {
    const wanted = name.toLowerCase();
    for (const [registered, registration] of this.options.recorder.functions) {
      if (registered.toLowerCase() !== wanted) continue;
      const [, trigger] = findTriggerBinding(registration.metadata.bindings);
      return trigger.type === triggerType ? registered : undefined;
    }
    return undefined;
  }

  private unknownOrchestratorMessage(name: string): string {
    const known = [...this.options.recorder.functions]
      .filter(
        ([, registration]) => findTriggerBinding(registration.metadata.bindings)[1].type === "orchestrationTrigger",
      )
      .map(([registered]) => `'${registered}'`);
    return `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function. Additional info: The following are the known orchestrator functions: ${known.join(", ")}.`;
  }

  private executionStarted(
    instanceId: string,
    executionId: string,
    name: string,
    input: unknown,
    parent?: { instanceId: string; executionId: string; taskId: number },
  ): HistoryEvent {
    const parentState = parent ? this.instances.get(parent.instanceId) : undefined;
    return this.event(HistoryEventType.ExecutionStarted, {
      Name: name,
      Input: input === undefined ? undefined : JSON.stringify(input),
      OrchestrationInstance: { InstanceId: instanceId, ExecutionId: executionId },
      ...(parent
        ? {
            ParentInstance: {
              Name: parentState?.name ?? "",
              OrchestrationInstance: { InstanceId: parent.instanceId, ExecutionId: parent.executionId },
              TaskScheduleId: parent.taskId,
            },
          }
        : {}),
    });
  }

  private track<T>(promise: Promise<T>): void {
    const tracked = promise.catch((error: unknown) =>
      this.log("error", `Durable engine: ${(error as Error).stack ?? String(error)}`),
    );
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  private persist(state: InstanceState, newEvents: number): void {
    state.lastUpdatedTime = this.isoNow();
    this.store.save(state);
    // A finished instance is not kept in memory: it is read from disk when asked for.
    if (TERMINAL_STATUSES.has(state.runtimeStatus) && this.instances.get(state.instanceId) === state)
      this.instances.delete(state.instanceId);
    this.eventsPersisted += newEvents;
    const crashAt = this.faults.crashAfterHistoryEvents;
    if (crashAt !== undefined && this.eventsPersisted >= crashAt) {
      this.log("warning", `Fault injection: crashing after ${this.eventsPersisted} history events.`);
      if (this.options.onCrash) this.options.onCrash();
      process.exit(137);
    }
  }

  private isoNow(): string {
    return new Date(this.clock.now()).toISOString();
  }

  private event(type: HistoryEventType, fields: Partial<HistoryEvent>): HistoryEvent {
    return { EventType: type, EventId: -1, IsPlayed: false, Timestamp: this.isoNow(), ...fields };
  }
}
