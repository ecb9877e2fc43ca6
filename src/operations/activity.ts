/** Registers the record activities: an orchestration's progress at phase changes, and its final result. */
import * as df from "durable-functions";
import { OperationStore } from "./records";
import {
  RECORD_OPERATION_PROGRESS,
  RECORD_OPERATION_RESULT,
  recordOperationProgress,
  recordOperationResult,
  type OperationProgressInput,
  type OperationResultInput,
} from "./result";

export { RECORD_OPERATION_RESULT, recordOperationResult, type OperationResultInput } from "./result";

df.app.activity(RECORD_OPERATION_RESULT, {
  handler: (input: OperationResultInput) => recordOperationResult(OperationStore.fromEnv(), input),
});
df.app.activity(RECORD_OPERATION_PROGRESS, {
  handler: (input: OperationProgressInput) => recordOperationProgress(OperationStore.fromEnv(), input),
});
