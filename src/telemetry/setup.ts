/**
 * Telemetry leaves the broker through OpenTelemetry and the Azure Monitor distro
 * (`@azure/monitor-opentelemetry`) when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set (a Function
 * App with Application Insights has it): traces (one per operation: the starter's span, a span per
 * step attempt, the Azure SDKs' own spans for every request under it), metrics (operations by kind
 * and outcome, step durations, retries, 429s) and logs. Without the setting nothing is started and
 * the OpenTelemetry API calls in Shire are no-ops.
 *
 * Once per process whatever loads it (the app and a test share a process on the local host: the
 * guard lives on globalThis, not in this module).
 */
import { ManagedIdentityCredential } from "@azure/identity";
import { useAzureMonitor, type AzureMonitorOpenTelemetryOptions } from "@azure/monitor-opentelemetry";

const STARTED = Symbol.for("shire.telemetry.started");

export interface TelemetryOptions {
  /** Extra processors and readers (tests add in-memory ones). */
  spanProcessors?: AzureMonitorOpenTelemetryOptions["spanProcessors"];
  metricReaders?: AzureMonitorOpenTelemetryOptions["metricReaders"];
}

/** Starts telemetry if the connection string is set and it has not been started; true when it runs. */
export function startTelemetry(env: NodeJS.ProcessEnv = process.env, options: TelemetryOptions = {}): boolean {
  const holder = globalThis as unknown as Record<symbol, boolean | undefined>;
  if (holder[STARTED]) return true;
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING;
  if (!connectionString) return false;
  // With local authentication off on the component (the broker's template does), the exporter
  // signs in with the app's identity, as the Functions host does: `Authorization=AAD;ClientId=...`.
  const authentication = Object.fromEntries(
    (env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING ?? "")
      .split(";")
      .map((part) => part.split("=").map((piece) => piece.trim()))
      .filter((pair) => pair.length === 2 && pair[0]),
  ) as Record<string, string>;
  const credential =
    authentication.Authorization?.toUpperCase() === "AAD"
      ? new ManagedIdentityCredential(authentication.ClientId ? { clientId: authentication.ClientId } : {})
      : undefined;
  useAzureMonitor({
    azureMonitorExporterOptions: { connectionString, ...(credential ? { credential } : {}) },
    // The Azure SDKs trace their own requests (core-tracing) as children of the active step span.
    instrumentationOptions: { azureSdk: { enabled: true }, http: { enabled: true } },
    enableLiveMetrics: false,
    // Every trace: an operation is one trace of a few hundred spans, and operations are few; the
    // distro's default (5 traces a second, rate-limited) drops step spans of busy moments.
    samplingRatio: 1,
    tracesPerSecond: 0,
    ...(options.spanProcessors ? { spanProcessors: options.spanProcessors } : {}),
    ...(options.metricReaders ? { metricReaders: options.metricReaders } : {}),
  });
  holder[STARTED] = true;
  return true;
}
