/** Registers the record activities: an orchestration's progress at phase changes, and its final result. */
import * as df from "durable-functions";
import { OperationStore } from "./records";
import { recordOperationFinished } from "../telemetry/trace";
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
  handler: async (input: OperationResultInput) => {
    const store = OperationStore.fromEnv();
    const createdAt = (await store.getOperation(input.operationId))?.createdAt;
    const recorded = await recordOperationResult(store, input);
    recordOperationFinished({ ...input, ...(createdAt ? { createdAt } : {}) });
    return recorded;
  },
});
df.app.activity(RECORD_OPERATION_PROGRESS, {
  handler: (input: OperationProgressInput) => recordOperationProgress(OperationStore.fromEnv(), input),
});
