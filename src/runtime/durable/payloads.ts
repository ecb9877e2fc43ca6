/**
 * Payload conventions between the durable engine and durable-functions / the extension: how
 * inputs are handed over, how results and failures are read back.
 */
import { FunctionInvocationError } from "../worker/invoke";
import type { RpcTypedData } from "../worker/core-api";
import type { OrchestratorState } from "./types";

/** The extension's answer when an activity name has no activity function (TaskNonexistentActivityShim). */
export class MissingActivityError extends Error {
  constructor(name: string) {
    super(`Activity function '${name}' does not exist.`);
  }
}

/** The worker hands the activity its input as the extension does: JSON for values, string for strings. */
export function activityTriggerData(input: unknown): RpcTypedData {
  if (typeof input === "string") return { string: input }; // already JSON (durable-functions processInput)
  return { json: JSON.stringify(input ?? null) };
}

export function serializeInput(input: unknown): string | undefined {
  if (input === undefined) return undefined;
  return typeof input === "string" ? input : JSON.stringify(input);
}

export function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The extension's ParseToJToken: JSON when the text is JSON, the text itself otherwise. */
export function parseToken(text: string): unknown {
  return text.trim().length === 0 ? text : safeParse(text);
}

/**
 * An orchestrator that throws carries its state after `$OutOfProcData$:` (durable-facts §3). The
 * extension's shim then fails the instance with `Orchestrator function '<name>' failed: <error>`
 * (OutOfProcOrchestrationShim.ScheduleDurableTaskEvents), which is the instance's output and the
 * Reason a parent sees.
 */
export function parseOrchestratorFailure(
  name: string,
  error: unknown,
): { state: OrchestratorState; failure: string; details: string } {
  const cause = error instanceof FunctionInvocationError ? error.cause : error;
  const message = cause instanceof Error ? cause.message : String(cause);
  // The stack's first line repeats the message (and its state JSON): keep the frames only.
  const stack =
    cause instanceof Error
      ? (cause.stack ?? "")
          .split("\n")
          .filter((line) => /^\s+at /.test(line))
          .join("\n")
      : "";
  const marker = "$OutOfProcData$:";
  const at = message.indexOf(marker);
  if (at >= 0) {
    try {
      const state = JSON.parse(message.slice(at + marker.length)) as OrchestratorState;
      const reported = state.error ?? message.slice(0, at).trim();
      return {
        state,
        failure: `Orchestrator function '${name}' failed: ${reported}`,
        details: `Message: ${reported}, StackTrace: ${stack}`,
      };
    } catch {
      // fall through: report the raw message
    }
  }
  return {
    state: { isDone: false, actions: [[]] },
    failure: `Orchestrator function '${name}' failed: ${message}`,
    details: `Message: ${message}, StackTrace: ${stack}`,
  };
}
