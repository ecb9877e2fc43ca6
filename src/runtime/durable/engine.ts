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
 */
import type http from "node:http";
import { randomUUID } from "node:crypto";
import type { CoreApiRecorder, RpcTypedData } from "../worker/core-api";
import { FunctionInvocationError, fromTypedData, invokeFunction } from "../worker/invoke";
import { InstanceStore } from "./store";
import { NonDeterminismError, newTasks, retryDelayMs } from "./actions";
import { handleManagementRequest } from "./management";
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
 * it. Any other clock runs in real time (setTimeout), reading `now()` for when a timer is due.
 */
export interface DurableClock {
  now(): number;
  advance?(ms: number): void;
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
  /** Called instead of process.exit for the crash fault (tests in-process). */
  onCrash?: () => never;
}

export class InstanceConflictError extends Error {
  constructor(readonly instanceId: string, readonly status: RuntimeStatus) {
    super(`An instance with ID '${instanceId}' already exists and is ${status}.`);
    this.name = "InstanceConflictError";
  }
}

const WEBHOOK_PREFIX = "/runtime/webhooks/durabletask";
/** Timers longer than this are split by the library; the extension's defaults. */
const MAXIMUM_SHORT_TIMER = "6.00:00:00";
const LONG_TIMER_INTERVAL = "3.00:00:00";
/** ReplaySchema V4 (durable-facts §2). */
const UPPER_SCHEMA_VERSION = 3;

export class DurableEngine {
  readonly webhookPrefix = WEBHOOK_PREFIX;
  faults: DurableFaults;
  private readonly store: InstanceStore;
  private readonly clock: DurableClock;
  private readonly instances = new Map<string, InstanceState>();
  private readonly pumping = new Map<string, Promise<void>>();
  private readonly timers = new Map<string, { instanceId: string; id: number; fireAt: number; handle?: NodeJS.Timeout }>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private activitySlots: number;
  private readonly activityQueue: (() => void)[] = [];
  private eventsPersisted = 0;
  private stopped = true;

  constructor(private readonly options: DurableEngineOptions) {
    this.store = new InstanceStore(options.stateDir, options.hubName);
    this.clock = options.clock ?? { now: () => Date.now() };
    this.faults = options.faults ?? {};
    this.activitySlots = Math.max(1, options.maxConcurrentActivities ?? 10);
  }

  private get manualClock(): boolean {
    return typeof this.clock.advance === "function";
  }

  private log(level: string, message: string): void {
    this.options.log?.(level, message);
  }

  /** Load persisted instances and resume every one that has not finished. */
  async start(): Promise<void> {
    this.stopped = false;
    for (const state of this.store.loadAll()) {
      this.instances.set(state.instanceId, state);
    }
    for (const state of this.instances.values()) {
      if (TERMINAL_STATUSES.has(state.runtimeStatus)) continue;
      for (const work of state.outstanding) this.dispatch(state, work);
      this.schedulePump(state.instanceId);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.values()) if (timer.handle) clearTimeout(timer.handle);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Resolves when nothing is running or queued (future timers do not count). */
  async waitForIdle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Move the engine's clock (manual clocks) and fire every timer now due. */
  async advanceTime(ms: number): Promise<void> {
    this.clock.advance?.(ms);
    this.fireDueTimers();
    await this.waitForIdle();
  }

  // ----- client operations (used by management.ts) -----

  startInstance(name: string, instanceId: string | undefined, input: unknown, parent?: { instanceId: string; taskId: number }): InstanceState {
    if (!this.options.recorder.functions.has(name)) throw new Error(`The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`);
    const id = instanceId ?? randomUUID().replace(/-/g, "");
    const existing = this.instances.get(id) ?? this.store.load(id);
    if (existing && !TERMINAL_STATUSES.has(existing.runtimeStatus)) throw new InstanceConflictError(id, existing.runtimeStatus);
    const now = this.isoNow();
    const state: InstanceState = {
      instanceId: id,
      name,
      runtimeStatus: "Pending",
      input,
      createdTime: now,
      lastUpdatedTime: now,
      parentInstanceId: parent?.instanceId,
      parentTaskId: parent?.taskId,
      history: [],
      inbox: [this.event(HistoryEventType.ExecutionStarted, { Name: name, Input: input === undefined ? undefined : JSON.stringify(input) })],
      nextSequence: 0,
      knownActions: [],
      outstanding: [],
      retries: {},
      retryTimers: {},
    };
    this.instances.set(id, state);
    this.persist(state, 1);
    this.schedulePump(id);
    return state;
  }

  getInstance(instanceId: string): InstanceState | undefined {
    return this.instances.get(instanceId);
  }

  listInstances(): InstanceState[] {
    return [...this.instances.values()];
  }

  /** Returns false when the instance exists but is no longer running (HTTP 410). */
  raiseEvent(instanceId: string, eventName: string, data: unknown): boolean {
    const state = this.instances.get(instanceId);
    if (!state) throw new Error(`No instance with ID '${instanceId}' was found.`);
    if (TERMINAL_STATUSES.has(state.runtimeStatus)) return false;
    state.inbox.push(this.event(HistoryEventType.EventRaised, { Name: eventName, Input: data === undefined ? undefined : JSON.stringify(data) }));
    this.persist(state, 1);
    this.schedulePump(instanceId);
    return true;
  }

  terminate(instanceId: string, reason: string): boolean {
    const state = this.instances.get(instanceId);
    if (!state) throw new Error(`No instance with ID '${instanceId}' was found.`);
    if (TERMINAL_STATUSES.has(state.runtimeStatus)) return false;
    state.runtimeStatus = "Terminated";
    state.output = reason;
    state.outstanding = [];
    state.inbox = [];
    state.history.push(this.event(HistoryEventType.ExecutionTerminated, { Input: JSON.stringify(reason) }));
    this.persist(state, 1);
    this.notifyParent(state, false, `Instance terminated: ${reason}`);
    return true;
  }

  purge(instanceId: string): boolean {
    const state = this.instances.get(instanceId);
    if (!state) return false;
    this.instances.delete(instanceId);
    return this.store.delete(instanceId);
  }

  handleHttp(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    return handleManagementRequest(this, req, res, body);
  }

  /** The `durableClient` input binding's value (durable-facts §5). */
  clientInputData(): RpcTypedData {
    const base = this.options.baseUrl.replace(/\/$/, "");
    const webhooks = `${base}${WEBHOOK_PREFIX}`;
    const query = `taskHub=${encodeURIComponent(this.options.hubName)}&connection=Storage&code=local`;
    const instance = `${webhooks}/instances/INSTANCEID`;
    return {
      json: JSON.stringify({
        taskHubName: this.options.hubName,
        creationUrls: {
          createNewInstancePostUri: `${webhooks}/orchestrators/{functionName}[/{instanceId}]?code=local`,
          createAndWaitOnNewInstancePostUri: `${webhooks}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&code=local`,
        },
        managementUrls: {
          id: "INSTANCEID",
          statusQueryGetUri: `${instance}?${query}`,
          sendEventPostUri: `${instance}/raiseEvent/{eventName}?${query}`,
          terminatePostUri: `${instance}/terminate?reason={text}&${query}`,
          rewindPostUri: `${instance}/rewind?reason={text}&${query}`,
          purgeHistoryDeleteUri: `${instance}?${query}`,
          restartPostUri: `${instance}/restart?${query}`,
          suspendPostUri: `${instance}/suspend?reason={text}&${query}`,
          resumePostUri: `${instance}/resume?reason={text}&${query}`,
        },
        baseUrl: webhooks,
        requiredQueryStringParameters: "code=local",
        rpcBaseUrl: `${webhooks}/`,
      }),
    };
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

    let outcome: { state: OrchestratorState; failure?: string };
    try {
      const result = await invokeFunction(this.options.recorder, state.name, { json: JSON.stringify(binding) });
      outcome = { state: fromTypedData(result.response.returnValue) as OrchestratorState };
    } catch (error) {
      outcome = parseOrchestratorFailure(error);
    }

    // The delivered event and the replay marker are now history.
    state.inbox.shift();
    state.history.push(started, delivered);
    if (state.runtimeStatus === "Pending") state.runtimeStatus = "Running";
    if (outcome.state.customStatus !== undefined) state.customStatus = outcome.state.customStatus;

    if (outcome.failure !== undefined) {
      this.fail(state, outcome.failure, outcome.state.error ?? "");
      return;
    }

    const newWork: PendingWork[] = [];
    try {
      this.applyRetryBookkeeping(state, delivered, newWork);
      const actions = outcome.state.actions?.[0] ?? [];
      const tasks = newTasks(state.knownActions, actions);
      state.knownActions = actions.map(stripVolatile);
      for (const { action } of tasks) this.scheduleAction(state, action, newWork);
    } catch (error) {
      if (error instanceof NonDeterminismError) {
        this.fail(state, error.message, error.stack ?? "");
        return;
      }
      throw error;
    }

    if (outcome.state.isDone) {
      const continueAsNew = (outcome.state.actions?.[0] ?? []).find((action) => action.actionType === ActionType.ContinueAsNew);
      if (continueAsNew) {
        this.continueAsNew(state, continueAsNew.input);
        return;
      }
      state.runtimeStatus = "Completed";
      state.output = outcome.state.output;
      state.outstanding = [];
      state.history.push(this.event(HistoryEventType.ExecutionCompleted, { Result: JSON.stringify(outcome.state.output ?? null), OrchestrationStatus: "Completed" }));
      this.persist(state, 3);
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
    const failedId = delivered.EventType === HistoryEventType.TaskFailed || delivered.EventType === HistoryEventType.SubOrchestrationInstanceFailed ? delivered.TaskScheduledId : undefined;
    if (failedId !== undefined && state.retries[String(failedId)]) {
      const retry = state.retries[String(failedId)];
      delete state.retries[String(failedId)];
      const timerId = state.nextSequence++;
      const fireAt = new Date(this.clock.now() + retryDelayMs(retry.retryOptions, retry.attempt)).toISOString();
      retry.attempt++;
      state.retries[`timer:${timerId}`] = retry;
      state.retryTimers[String(timerId)] = `timer:${timerId}`;
      state.history.push(this.event(HistoryEventType.TimerCreated, { EventId: timerId, FireAt: fireAt }));
      newWork.push({ kind: "timer", id: timerId, fireAt });
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
        state.history.push(this.event(HistoryEventType.TaskScheduled, { EventId: id, Name: retry.name }));
        newWork.push({ kind: "activity", id, name: retry.name, input: retry.input });
      } else {
        const instanceId = retry.instanceId ?? `${state.instanceId}:${id}`;
        state.history.push(this.event(HistoryEventType.SubOrchestrationInstanceCreated, { EventId: id, Name: retry.name, InstanceId: instanceId }));
        newWork.push({ kind: "subOrchestration", id, name: retry.name, instanceId, input: retry.input });
      }
    }
  }

  private scheduleAction(state: InstanceState, action: OrchestratorAction, newWork: PendingWork[]): void {
    const id = state.nextSequence++;
    const now = this.isoNow();
    switch (action.actionType) {
      case ActionType.CallActivity:
      case ActionType.CallActivityWithRetry: {
        const name = action.functionName ?? "";
        state.history.push(this.event(HistoryEventType.TaskScheduled, { EventId: id, Name: name, Input: serializeInput(action.input) }));
        newWork.push({ kind: "activity", id, name, input: action.input });
        if (action.actionType === ActionType.CallActivityWithRetry && action.retryOptions) {
          state.retries[String(id)] = { kind: "activity", name, input: action.input, retryOptions: action.retryOptions, attempt: 1, firstScheduledAt: now };
        }
        return;
      }
      case ActionType.CallSubOrchestrator:
      case ActionType.CallSubOrchestratorWithRetry: {
        const name = action.functionName ?? "";
        const instanceId = action.instanceId || `${state.instanceId}:${id}`;
        state.history.push(this.event(HistoryEventType.SubOrchestrationInstanceCreated, { EventId: id, Name: name, InstanceId: instanceId, Input: serializeInput(action.input) }));
        newWork.push({ kind: "subOrchestration", id, name, instanceId, input: action.input });
        if (action.actionType === ActionType.CallSubOrchestratorWithRetry && action.retryOptions) {
          state.retries[String(id)] = { kind: "subOrchestration", name, input: action.input, retryOptions: action.retryOptions, attempt: 1, firstScheduledAt: now, instanceId };
        }
        return;
      }
      case ActionType.CreateTimer: {
        const fireAt = new Date(action.fireAt ?? now).toISOString();
        state.history.push(this.event(HistoryEventType.TimerCreated, { EventId: id, FireAt: fireAt }));
        newWork.push({ kind: "timer", id, fireAt });
        return;
      }
      case ActionType.ContinueAsNew:
        state.nextSequence--; // continue-as-new takes no task id
        return;
      default:
        throw new NonDeterminismError(`Action type ${ActionType[action.actionType] ?? action.actionType} is not supported by the local host.`);
    }
  }

  private continueAsNew(state: InstanceState, input: unknown): void {
    const parsed = typeof input === "string" ? safeParse(input) : input;
    state.runtimeStatus = "Running";
    state.input = parsed;
    state.history = [];
    state.inbox = [this.event(HistoryEventType.ExecutionStarted, { Name: state.name, Input: JSON.stringify(parsed ?? null) })];
    state.nextSequence = 0;
    state.knownActions = [];
    state.outstanding = [];
    state.retries = {};
    state.retryTimers = {};
    this.persist(state, 1);
  }

  private fail(state: InstanceState, message: string, details: string): void {
    state.runtimeStatus = "Failed";
    state.output = message;
    state.outstanding = [];
    state.history.push(this.event(HistoryEventType.ExecutionFailed, { Reason: message, Details: details, OrchestrationStatus: "Failed" }));
    this.persist(state, 1);
    this.log("error", `Orchestration ${state.name} (${state.instanceId}) failed: ${message}`);
    this.notifyParent(state, false, message, details);
  }

  private notifyParent(child: InstanceState, succeeded: boolean, result: unknown, details = ""): void {
    if (!child.parentInstanceId || child.parentTaskId === undefined) return;
    const parent = this.instances.get(child.parentInstanceId);
    if (!parent || TERMINAL_STATUSES.has(parent.runtimeStatus)) return;
    this.completeWork(parent, child.parentTaskId, succeeded
      ? this.event(HistoryEventType.SubOrchestrationInstanceCompleted, { TaskScheduledId: child.parentTaskId, Result: JSON.stringify(result ?? null) })
      : this.event(HistoryEventType.SubOrchestrationInstanceFailed, { TaskScheduledId: child.parentTaskId, Reason: String(result), Details: details }));
  }

  /** Record a completion for outstanding work `id` (ignored when that work is no longer outstanding). */
  private completeWork(state: InstanceState, id: number, completion: HistoryEvent): void {
    const index = state.outstanding.findIndex((work) => work.id === id);
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
        this.armTimer(state.instanceId, work.id, Date.parse(work.fireAt));
        return;
      case "subOrchestration": {
        const child = this.instances.get(work.instanceId);
        if (child && child.parentInstanceId === state.instanceId && child.parentTaskId === work.id) {
          // Already started (we are resuming after a restart): deliver its result if it finished.
          if (TERMINAL_STATUSES.has(child.runtimeStatus)) this.notifyParent(child, child.runtimeStatus === "Completed", child.output, "");
          return;
        }
        try {
          this.startInstance(work.name, work.instanceId, work.input, { instanceId: state.instanceId, taskId: work.id });
        } catch (error) {
          this.completeWork(state, work.id, this.event(HistoryEventType.SubOrchestrationInstanceFailed, { TaskScheduledId: work.id, Reason: (error as Error).message, Details: "" }));
        }
        return;
      }
    }
  }

  private async runActivity(instanceId: string, work: Extract<PendingWork, { kind: "activity" }>): Promise<void> {
    await this.acquireActivitySlot();
    let completion: HistoryEvent;
    try {
      const duplicate = this.faults.duplicateActivityDelivery;
      const deliveries = duplicate === true || (typeof duplicate === "function" && duplicate(work.name)) ? 2 : 1;
      let result: RpcTypedData | undefined;
      for (let delivery = 0; delivery < deliveries; delivery++) {
        const response = await invokeFunction(this.options.recorder, work.name, activityTriggerData(work.input));
        result = response.response.returnValue;
      }
      const value = fromTypedData(result);
      completion = this.event(HistoryEventType.TaskCompleted, { TaskScheduledId: work.id, Result: value === undefined ? undefined : JSON.stringify(value) });
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
    if (state && !TERMINAL_STATUSES.has(state.runtimeStatus)) this.completeWork(state, work.id, completion);
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

  private armTimer(instanceId: string, id: number, fireAt: number): void {
    const key = `${instanceId}#${id}`;
    const timer: { instanceId: string; id: number; fireAt: number; handle?: NodeJS.Timeout } = { instanceId, id, fireAt };
    this.timers.set(key, timer);
    if (this.manualClock) {
      if (fireAt <= this.clock.now()) queueMicrotask(() => this.fireDueTimers());
      return;
    }
    this.rearm(key, timer);
  }

  /**
   * Real clock: each timer wakes itself. Node's timers run on a monotonic clock and may wake a
   * millisecond before Date.now() reaches fireAt, and setTimeout caps at ~24.8 days: in both cases
   * the timer sleeps again for what remains, so it can never be left without a wake-up.
   */
  private rearm(key: string, timer: { instanceId: string; id: number; fireAt: number; handle?: NodeJS.Timeout }): void {
    const delay = Math.max(0, timer.fireAt - this.clock.now());
    timer.handle = setTimeout(() => {
      if (this.timers.get(key) !== timer) return;
      if (timer.fireAt > this.clock.now()) return this.rearm(key, timer);
      this.fireDueTimers();
    }, Math.min(Math.max(delay, 1), 2 ** 31 - 1));
  }

  private fireDueTimers(): void {
    const now = this.clock.now();
    for (const [key, timer] of this.timers) {
      if (timer.fireAt > now) continue;
      if (timer.handle) clearTimeout(timer.handle);
      this.timers.delete(key);
      const state = this.instances.get(timer.instanceId);
      if (!state || TERMINAL_STATUSES.has(state.runtimeStatus)) continue;
      this.completeWork(state, timer.id, this.event(HistoryEventType.TimerFired, { TimerId: timer.id, FireAt: new Date(timer.fireAt).toISOString() }));
    }
  }

  // ----- plumbing -----

  private track<T>(promise: Promise<T>): void {
    const tracked = promise.catch((error: unknown) => this.log("error", `Durable engine: ${(error as Error).stack ?? String(error)}`));
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  private persist(state: InstanceState, newEvents: number): void {
    state.lastUpdatedTime = this.isoNow();
    this.store.save(state);
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

/** The worker hands the activity its input as the extension does: JSON for values, string for strings. */
function activityTriggerData(input: unknown): RpcTypedData {
  if (typeof input === "string") return { string: input }; // already JSON (durable-functions processInput)
  return { json: JSON.stringify(input ?? null) };
}

function serializeInput(input: unknown): string | undefined {
  if (input === undefined) return undefined;
  return typeof input === "string" ? input : JSON.stringify(input);
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Drop fields that legitimately change between replays (a timer being cancelled). */
function stripVolatile(action: OrchestratorAction): OrchestratorAction {
  const { isCanceled: _ignored, ...rest } = action;
  return rest.compoundActions ? { ...rest, compoundActions: rest.compoundActions.map(stripVolatile) } : rest;
}

/** An orchestrator that throws carries its state after `$OutOfProcData$:` (durable-facts §3). */
function parseOrchestratorFailure(error: unknown): { state: OrchestratorState; failure: string } {
  const cause = error instanceof FunctionInvocationError ? error.cause : error;
  const message = cause instanceof Error ? cause.message : String(cause);
  const marker = "$OutOfProcData$:";
  const at = message.indexOf(marker);
  if (at >= 0) {
    try {
      const state = JSON.parse(message.slice(at + marker.length)) as OrchestratorState;
      return { state, failure: state.error ?? message.slice(0, at).trim() };
    } catch {
      // fall through: report the raw message
    }
  }
  return { state: { isDone: false, actions: [[]] }, failure: message };
}
