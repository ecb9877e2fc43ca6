/**
 * Telemetry as the broker sends it to Application Insights, caught in memory: an install makes
 * one trace, the starter's span at its root, a span per step attempt under it, and the Azure SDKs'
 * request spans under the steps; the operation's end is a span of the same trace; the operation
 * counter and step durations are recorded; the orchestration's log line is written once however
 * often it replays.
 */
import { describe, expect, it } from "vitest";
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import { startTelemetry } from "../../src/telemetry/setup";
import { useInstallHost } from "../fixtures/install-host";
import { install } from "../e2e/harness";

const spans = new InMemorySpanExporter();
const metricsExported = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter: metricsExported, exportIntervalMillis: 60_000 });
// What a Function App with Application Insights has; the ingestion endpoint is a closed local port.
const connectionString =
  "InstrumentationKey=00000000-0000-4000-8000-000000000000;IngestionEndpoint=http://127.0.0.1:9/";
expect(
  startTelemetry(
    { APPLICATIONINSIGHTS_CONNECTION_STRING: connectionString },
    { spanProcessors: [new SimpleSpanProcessor(spans)], metricReaders: [reader] },
  ),
).toBe(true);

const app = useInstallHost();

const attribute = (span: ReadableSpan, name: string) => span.attributes[name];
const parentId = (span: ReadableSpan) => span.parentSpanContext?.spanId;

describe("telemetry", () => {
  it("traces an install: the operation at the root, each step under it, each Azure request under its step", async () => {
    const operation = await install(app.url, "traced");
    expect(operation.status).toBe("succeeded");
    const mine = spans.getFinishedSpans().filter((span) => attribute(span, "shire.operation.id") === operation.id);
    const root = mine.find((span) => span.name === "shire install");
    expect(root).toBeDefined();
    const traceId = root!.spanContext().traceId;
    const steps = mine.filter((span) => span.name.startsWith("step "));
    // Every step of the operation, each attempt a span directly under the operation's.
    const stepIds = new Set(operation.steps.map((step) => step.id));
    expect(new Set(steps.map((span) => attribute(span, "shire.step.node")))).toEqual(stepIds);
    for (const step of steps) {
      expect(step.spanContext().traceId).toBe(traceId);
      expect(parentId(step)).toBe(root!.spanContext().spanId);
    }
    // The Azure SDKs' own request spans, under the step that made them.
    const stepSpanIds = new Set(steps.map((span) => span.spanContext().spanId));
    const sdk = spans
      .getFinishedSpans()
      .filter((span) => span.spanContext().traceId === traceId && stepSpanIds.has(parentId(span) ?? ""));
    expect(sdk.length).toBeGreaterThan(steps.length);
    const resourceGroupStep = steps.find((span) => attribute(span, "shire.step.node") === "resourceGroup")!;
    expect(sdk.some((span) => parentId(span) === resourceGroupStep.spanContext().spanId)).toBe(true);
    // The operation's end, from its start to its finish, in the same trace.
    const finished = mine.find((span) => span.name === "shire install succeeded");
    expect(finished?.spanContext().traceId).toBe(traceId);
    expect(parentId(finished!)).toBe(root!.spanContext().spanId);

    await reader.forceFlush();
    const recorded = metricsExported
      .getMetrics()
      .flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics));
    const operations = recorded.find((metric) => metric.descriptor.name === "shire.operations");
    expect(
      operations?.dataPoints.some(
        (point) => point.attributes.kind === "install" && point.attributes.outcome === "succeeded",
      ),
    ).toBe(true);
    const durations = recorded.find((metric) => metric.descriptor.name === "shire.step.duration");
    expect(durations?.dataPoints.some((point) => point.attributes.kind === "resourceGroup")).toBe(true);

    // Logged once, though the orchestration replayed many times.
    expect(app.logs.filter((line) => line.includes(`Operation ${operation.id}: Install of traced done`))).toHaveLength(
      1,
    );
  }, 120_000);
});
