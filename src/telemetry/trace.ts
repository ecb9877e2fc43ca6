/**
 * Shire's spans and metrics. An operation's trace starts in its starter (a real request, never
 * replayed); its W3C `traceparent` travels in the orchestration's input to every step's activity,
 * which runs its attempt inside a span under it, so the Azure SDKs' request spans land under the
 * step. Orchestrations never open spans (they replay); they log through `logOnce`, which is
 * silent while replaying.
 */
import {
  context,
  metrics,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
} from "@opentelemetry/api";
import type { OrchestrationContext } from "durable-functions";

const tracer = () => trace.getTracer("shire");
const meter = () => metrics.getMeter("shire");

/** Instruments are made lazily: the meter provider may be registered after this module loads. */
let instruments:
  | {
      operations: ReturnType<ReturnType<typeof meter>["createCounter"]>;
      stepDuration: ReturnType<ReturnType<typeof meter>["createHistogram"]>;
      retries: ReturnType<ReturnType<typeof meter>["createCounter"]>;
      throttled: ReturnType<ReturnType<typeof meter>["createCounter"]>;
    }
  | undefined;
function metricsOf() {
  instruments ??= {
    operations: meter().createCounter("shire.operations", { description: "Operations finished, by kind and outcome" }),
    stepDuration: meter().createHistogram("shire.step.duration", { description: "One attempt of a step", unit: "ms" }),
    retries: meter().createCounter("shire.step.retries", { description: "Step attempts after the first" }),
    throttled: meter().createCounter("shire.azure.throttled", { description: "Step attempts Azure answered with 429" }),
  };
  return instruments;
}

/**
 * The operation's span, started and ended by its starter (the orchestration runs long after);
 * returns the `traceparent` its steps continue from.
 */
export function operationTraceparent(kind: string, slug: string, operationId: string): string | undefined {
  const span = tracer().startSpan(`shire ${kind}`, {
    kind: SpanKind.SERVER,
    attributes: { "shire.operation.id": operationId, "shire.operation.kind": kind, "shire.slug": slug },
  });
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  span.end();
  return carrier.traceparent;
}

function parentOf(traceparent: string | undefined) {
  return traceparent ? propagation.extract(context.active(), { traceparent }) : context.active();
}

export interface StepAttempt {
  operationId: string;
  slug: string;
  nodeId: string;
  kind: string;
  verb: string;
  attempt?: number;
  trace?: string;
}

/** Runs one attempt of a step inside its span (the Azure SDK spans of the attempt nest under it). */
export async function inStepSpan<T extends { failed?: true; code?: string; statusCode?: number } | object>(
  step: StepAttempt,
  run: () => Promise<T>,
): Promise<T> {
  const attributes: Attributes = {
    "shire.operation.id": step.operationId,
    "shire.slug": step.slug,
    "shire.step.node": step.nodeId,
    "shire.step.kind": step.kind,
    "shire.step.verb": step.verb,
    "shire.step.attempt": step.attempt ?? 1,
  };
  const started = Date.now();
  return tracer().startActiveSpan(
    `step ${step.nodeId}`,
    { kind: SpanKind.INTERNAL, attributes },
    parentOf(step.trace),
    async (span: Span) => {
      try {
        const result = await run();
        const failure = result as { failed?: true; code?: string; statusCode?: number; message?: string };
        const outcome = failure.failed ? "failed" : "done";
        if (failure.failed) span.setStatus({ code: SpanStatusCode.ERROR, message: failure.code });
        const labels = { kind: step.kind, verb: step.verb, outcome };
        metricsOf().stepDuration.record(Date.now() - started, labels);
        if ((step.attempt ?? 1) > 1) metricsOf().retries.add(1, { kind: step.kind });
        if (failure.failed && (failure.statusCode === 429 || failure.code === "TooManyRequests"))
          metricsOf().throttled.add(1, { kind: step.kind });
        return result;
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** The operation's end, as a span from its start to its finish under the operation's trace. */
export function recordOperationFinished(input: {
  operationId: string;
  slug: string;
  kind: string;
  status: string;
  createdAt?: string;
  finishedAt: string;
  trace?: string;
}): void {
  const span = tracer().startSpan(
    `shire ${input.kind} ${input.status}`,
    {
      kind: SpanKind.INTERNAL,
      startTime: input.createdAt ? new Date(input.createdAt) : new Date(input.finishedAt),
      attributes: {
        "shire.operation.id": input.operationId,
        "shire.slug": input.slug,
        "shire.operation.outcome": input.status,
      },
    },
    parentOf(input.trace),
  );
  if (input.status === "failed") span.setStatus({ code: SpanStatusCode.ERROR });
  span.end(new Date(input.finishedAt));
  metricsOf().operations.add(1, { kind: input.kind, outcome: input.status });
}

/** A log line from an orchestration, written once: not again while the orchestration replays. */
export function logOnce(context: OrchestrationContext, message: string): void {
  if (!context.df.isReplaying) context.log(message);
}
