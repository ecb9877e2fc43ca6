/** Importing this starts telemetry when the app settings ask for it (src/telemetry/setup.ts). */
import { startTelemetry } from "./setup";

startTelemetry();
