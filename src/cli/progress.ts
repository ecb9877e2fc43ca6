/**
 * Following a running operation: a live display on a terminal (a bar, steps done / running /
 * waiting with their retry time, elapsed time, redrawn in place), one line per change elsewhere
 * (pipes, CI logs), until the operation ends.
 */
export interface StepView {
  id: string;
  title?: string;
  status: string;
  action?: string;
  attempts?: number;
  retryAt?: string;
  error?: string;
  verb?: string;
}

export interface OperationView {
  id: string;
  slug: string;
  kind: string;
  status: string;
  message: string;
  createdAt: string;
  steps: StepView[];
}

const ENDED = new Set(["succeeded", "failed", "canceled"]);

export function isEnded(operation: OperationView): boolean {
  return ENDED.has(operation.status);
}

function count(steps: StepView[], status: string): number {
  return steps.filter((step) => step.status === status).length;
}

/** The block a terminal shows: pure, so it can be tested. */
export function renderProgress(operation: OperationView, now: number, width = 30): string[] {
  const total = operation.steps.length;
  const done = count(operation.steps, "done");
  const filled = total === 0 ? 0 : Math.round((done / total) * width);
  const elapsed = Math.max(0, Math.round((now - Date.parse(operation.createdAt)) / 1000));
  const lines = [
    `${operation.kind} ${operation.slug} ${operation.id}  ${operation.status}`,
    `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} done, ${count(operation.steps, "running")} running${
      count(operation.steps, "failed") ? `, ${count(operation.steps, "failed")} failed` : ""
    }${count(operation.steps, "skipped") ? `, ${count(operation.steps, "skipped")} skipped` : ""}${
      count(operation.steps, "canceled") ? `, ${count(operation.steps, "canceled")} canceled` : ""
    }  ${elapsed}s`,
  ];
  for (const step of operation.steps.filter((step) => step.status === "running")) {
    const waiting = step.retryAt
      ? ` waiting, attempt ${(step.attempts ?? 1) + 1} at ${step.retryAt.slice(11, 19)}`
      : "";
    lines.push(`  running  ${step.title ?? step.id}${waiting}${step.error ? ` (${step.error.slice(0, 80)})` : ""}`);
  }
  for (const step of operation.steps.filter((step) => step.status === "failed"))
    lines.push(`  failed   ${step.title ?? step.id}: ${step.error ?? ""}`);
  return lines;
}

export interface Output {
  isTTY: boolean;
  write(text: string): void;
}

/** Follows an operation to its end through `read`, drawing on `out`; returns the final view. */
export async function follow(
  read: () => Promise<OperationView>,
  out: Output,
  options: { intervalMs?: number; now?: () => number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<OperationView> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
  let drawn = 0;
  const seen = new Map<string, string>();
  for (;;) {
    const operation = await read();
    if (out.isTTY) {
      const lines = renderProgress(operation, now());
      // Move up over the last block, clear it, draw the new one.
      out.write(`${drawn ? `\x1b[${drawn}A` : ""}\x1b[0J${lines.join("\n")}\n`);
      drawn = lines.length;
    } else {
      for (const step of operation.steps) {
        const state = `${step.status}${step.attempts ? `#${step.attempts}` : ""}`;
        if (seen.get(step.id) === state || step.status === "pending") continue;
        seen.set(step.id, state);
        out.write(
          `${step.status.padEnd(8)} ${step.title ?? step.id}${step.action ? ` (${step.action})` : ""}${step.error ? `: ${step.error}` : ""}\n`,
        );
      }
    }
    if (isEnded(operation)) {
      out.write(`${operation.status}: ${operation.message}\n`);
      return operation;
    }
    await sleep(options.intervalMs ?? 500);
  }
}
