/**
 * Instance status as the extension's HTTP API returns it (HttpApiHandler.ConvertFrom and
 * DurableClient.GetDurableOrchestrationStatusAsync): times to the second, input/output/custom
 * status parsed from their JSON, and the history reshaped for people rather than replay.
 */
import { HistoryEventType, type HistoryEvent, type InstanceState } from "./types";

export interface StatusOptions {
  showHistory: boolean;
  showHistoryOutput: boolean;
  showInput: boolean;
}

/** DateTime.ToString("s") + "Z": the API's createdTime / lastUpdatedTime have no fractional seconds. */
function toSecondsIso(iso: string): string {
  return `${new Date(iso).toISOString().slice(0, 19)}Z`;
}

export function toStatusPayload(state: InstanceState, options: StatusOptions): Record<string, unknown> {
  const status: Record<string, unknown> = {
    name: state.name,
    instanceId: state.instanceId,
    runtimeStatus: state.runtimeStatus,
    input: options.showInput ? (state.input ?? null) : null,
    customStatus: state.customStatus ?? null,
    output: state.output ?? null,
    createdTime: toSecondsIso(state.createdTime),
    lastUpdatedTime: toSecondsIso(state.lastUpdatedTime),
  };
  // The extension names this member historyEvents (durable-functions reads `history`, so its
  // DurableOrchestrationStatus.history stays undefined: azure-functions-durable-js#620).
  if (options.showHistory && state.runtimeStatus !== "Pending")
    status.historyEvents = historyView(state.history, options);
  return status;
}

/** JSON when it parses, the raw text otherwise (the extension's ParseToJToken). */
function parseToken(value: string | undefined): unknown {
  if (value === undefined || value === null) return null;
  const trimmed = value.trim();
  if (trimmed.length === 0) return "";
  try {
    return JSON.parse(trimmed);
  } catch {
    return value;
  }
}

/**
 * DurableClient.GetDurableOrchestrationStatusAsync's reshaping: EventType names; a scheduled
 * task folded into its completion (FunctionName, ScheduledTime, its Input) and dropped when it
 * completed; OrchestratorStarted/Completed dropped; EventId, IsPlayed, TimerId, TaskScheduledId
 * removed; Input kept unless showInput=false; Result only with showHistoryOutput.
 */
export function historyView(history: readonly HistoryEvent[], options: StatusOptions): Record<string, unknown>[] {
  const items: (Record<string, unknown> | undefined)[] = history.map(
    (event) => ({ ...event }) as Record<string, unknown>,
  );
  const scheduled = new Map<string, { index: number; name: unknown; timestamp: unknown; input: unknown }>();
  const removed = new Set<number>();

  items.forEach((item, index) => {
    if (!item) return;
    const type = item.EventType as HistoryEventType;
    item.EventType = HistoryEventType[type] ?? type;
    switch (type) {
      case HistoryEventType.TaskScheduled:
      case HistoryEventType.SubOrchestrationInstanceCreated:
        scheduled.set(`${type}_${String(item.EventId)}`, {
          index,
          name: item.Name,
          timestamp: item.Timestamp,
          input: item.Input,
        });
        delete item.Version;
        break;
      case HistoryEventType.TaskCompleted:
      case HistoryEventType.TaskFailed:
      case HistoryEventType.SubOrchestrationInstanceCompleted:
      case HistoryEventType.SubOrchestrationInstanceFailed: {
        const scheduledType =
          type === HistoryEventType.TaskCompleted || type === HistoryEventType.TaskFailed
            ? HistoryEventType.TaskScheduled
            : HistoryEventType.SubOrchestrationInstanceCreated;
        const source = scheduled.get(`${scheduledType}_${String(item.TaskScheduledId)}`);
        if (source) {
          item.ScheduledTime = source.timestamp;
          item.FunctionName = source.name;
          if (options.showInput) item.Input = source.input;
          removed.add(source.index);
        }
        delete item.TaskScheduledId;
        const succeeded =
          type === HistoryEventType.TaskCompleted || type === HistoryEventType.SubOrchestrationInstanceCompleted;
        if (succeeded && !options.showHistoryOutput) delete item.Result;
        if (succeeded && options.showHistoryOutput) item.Result = parseToken(item.Result as string | undefined);
        break;
      }
      case HistoryEventType.ExecutionStarted:
        item.FunctionName = item.Name;
        delete item.Name;
        delete item.OrchestrationInstance;
        delete item.ParentInstance;
        delete item.Version;
        delete item.Tags;
        break;
      case HistoryEventType.ExecutionCompleted:
        if (!options.showHistoryOutput) delete item.Result;
        else item.Result = parseToken(item.Result as string | undefined);
        break;
      case HistoryEventType.TimerFired:
        delete item.TimerId;
        break;
      case HistoryEventType.OrchestratorStarted:
      case HistoryEventType.OrchestratorCompleted:
        removed.add(index);
        break;
      default:
        break;
    }
    if (!options.showInput) delete item.Input;
    delete item.EventId;
    delete item.IsPlayed;
  });
  return items
    .filter((item, index): item is Record<string, unknown> => item !== undefined && !removed.has(index))
    .map(dropUndefined);
}

function dropUndefined(item: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(item).filter(([, value]) => value !== undefined));
}
