/** Registers `recordOperationResult`: an orchestration's last step writes the final operation and slug records. */
import * as df from "durable-functions";
import { OperationStore } from "./records";
import { RECORD_OPERATION_RESULT, recordOperationResult, type OperationResultInput } from "./result";

export { RECORD_OPERATION_RESULT, recordOperationResult, type OperationResultInput } from "./result";

df.app.activity(RECORD_OPERATION_RESULT, {
  handler: (input: OperationResultInput) => recordOperationResult(OperationStore.fromEnv(), input),
});
