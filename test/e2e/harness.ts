/**
 * End-to-end harness: the emulated Azure (sandbox) in this process and the real app on the local
 * Functions host, either in this process or as a separate process that tests can kill.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { startSandbox, type Sandbox, type SandboxFaultSettings } from "../../src/sandbox";
import { FunctionsHost } from "../../src/runtime/host";
import type { DurableClock, DurableFaults } from "../../src/runtime/durable/engine";
import { until } from "../fixtures/wait";

export const REPO_ROOT = path.resolve(__dirname, "../..");

export interface OperationView {
  id: string;
  status: string;
  message: string;
  steps: { id: string; status: string; action?: string; error?: string; durationMs?: number; attempts?: number }[];
}

export async function startTestSandbox(
  faults: Partial<SandboxFaultSettings> = {},
): Promise<Sandbox & { logFile: string; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-e2e-"));
  const logFile = path.join(dir, "sandbox-requests.jsonl");
  const sandbox = await startSandbox({ stateDir: path.join(dir, "sandbox"), logFile, faults });
  process.env.SHIRE_CLOUD = "Sandbox";
  process.env.SHIRE_SANDBOX_PORT = String(sandbox.port);
  process.env.SHIRE_SANDBOX_CA_FILE = sandbox.caFile;
  // Short orchestration back-off so retried steps do not slow the suite.
  process.env.SHIRE_RETRY_FIRST_INTERVAL_MS = "100";
  process.env.SHIRE_RETRY_MAX_INTERVAL_MS = "400";
  process.env.SHIRE_RETRY_MAX_ATTEMPTS = "8";
  return Object.assign(sandbox, { logFile, dir });
}

export interface RunningHost {
  url: string;
  stateDir: string;
  logs: string[];
  stop(): Promise<void>;
  host?: FunctionsHost;
}

export async function startInProcessHost(
  stateDir: string,
  durableFaults?: DurableFaults,
  options: { clock?: DurableClock } = {},
): Promise<RunningHost> {
  const logs: string[] = [];
  delete process.env.AzureWebJobsStorage;
  const host = new FunctionsHost({
    appRoot: REPO_ROOT,
    port: 0,
    stateDir,
    durableFaults,
    ...(options.clock ? { clock: options.clock } : {}),
    log: (level, message) => logs.push(`[${level}] ${message}`),
  });
  await host.start();
  return { url: host.url, stateDir, logs, host, stop: () => host.stop() };
}

/** The host as its own process (`node dist/src/runtime/cli.js start --no-sandbox`), killable. */
export async function startHostProcess(
  stateDir: string,
  env: Record<string, string> = {},
): Promise<RunningHost & { child: ChildProcess; exited: Promise<number | null> }> {
  const logs: string[] = [];
  const child = spawn(
    process.execPath,
    [path.join(REPO_ROOT, "dist/src/runtime/cli.js"), "start", "--port", "0", "--no-sandbox", "--state-dir", stateDir],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, AzureWebJobsStorage: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = "";
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      logs.push(chunk.toString());
      const match = /Shire host listening on (http:\/\/[^\s]+)/.exec(buffer);
      if (match) resolve(match[1]);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk: Buffer) => logs.push(chunk.toString()));
    void exited.then((code) => reject(new Error(`host exited with ${code} before listening: ${logs.join("")}`)));
  });
  return {
    url,
    stateDir,
    logs,
    child,
    exited,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}

export async function postJson(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as T };
}

/** Poll an operation until it is no longer running (a readiness wait, not a timed assertion). */
export async function waitForOperation(
  baseUrl: string,
  operationId: string,
  deadlineMs = 60_000,
): Promise<OperationView> {
  let last: OperationView | undefined;
  return until(
    async () => {
      const { status, body } = await getJson<OperationView>(`${baseUrl}/api/operations/${operationId}`).catch(() => ({
        status: 0,
        body: undefined,
      }));
      last = body;
      return status === 200 && body!.status !== "running" ? body : undefined;
    },
    () =>
      `operation ${operationId} to finish: still ${last?.status ?? "unreachable"} after ${deadlineMs} ms: ${JSON.stringify(last?.steps?.filter((s) => s.status !== "done"))}`,
    { timeoutMs: deadlineMs },
  );
}

export async function install(
  baseUrl: string,
  slug: string,
  body: unknown = {},
  deadlineMs = 60_000,
): Promise<OperationView> {
  const started = await postJson(`${baseUrl}/api/slugs/${slug}/install`, body);
  if (started.status !== 202) throw new Error(`install ${slug}: ${started.status} ${JSON.stringify(started.body)}`);
  return waitForOperation(baseUrl, String(started.body.operationId), deadlineMs);
}

/** Requests that change something (reads and list-key actions excluded). */
export function writesIn(sandbox: Sandbox, from = 0): { method: string; url: string; status: number }[] {
  return sandbox
    .requests()
    .slice(from)
    .filter((request) => request.method !== "GET" && request.method !== "HEAD")
    .filter((request) => !(request.method === "POST" && /\/(listKeys|sharedKeys|listSecrets)(\?|$)/.test(request.url)));
}

/**
 * A slug's footprint, normalised so two slugs (or two runs) can be compared: ARM resources in its
 * group by type and name pattern, role assignments by role and principal kind, Entra objects,
 * secret names, static website content.
 */
export function footprint(sandbox: Sandbox, slug: string): Record<string, unknown> {
  const state = sandbox.inspect() as {
    arm: { resources: { id: string; type: string; name: string; properties?: Record<string, unknown> }[] };
    graph: {
      kind: string;
      displayName?: string;
      deleted: boolean;
      passwordKeyIds?: string[];
      assignments?: unknown[];
      appRoleAssignmentRequired?: boolean;
    }[];
    keyvault: Record<string, Record<string, { deleted: boolean; versions: unknown[] }>>;
    blob: Record<string, { staticWebsite: unknown; containers: Record<string, string[]> }>;
  };
  const group = `/resourcegroups/claw-${slug}`;
  const normalise = (text: string) =>
    text
      .split(slug)
      .join("<slug>")
      .replace(/<slug>-?[a-z0-9]{5}\b/g, "<slug>-<suffix>");
  const resources = state.arm.resources
    .filter(
      (resource) =>
        resource.id.toLowerCase().includes(group) || resource.id.toLowerCase().endsWith(`/resourcegroups/claw-${slug}`),
    )
    .map((resource) =>
      resource.type === "Microsoft.Authorization/roleAssignments"
        ? `${resource.type}:${String(resource.properties?.roleDefinitionId).split("/").at(-1)}:${String(resource.properties?.principalType)}`
        : `${resource.type}:${normalise(resource.name)}`,
    )
    .map((entry) => entry.replace(/--[a-z0-9]+$/, "--<revision>"))
    .sort();
  const entra = state.graph
    .filter(
      (object) => !object.deleted && (object.displayName === `shire-${slug}` || object.displayName === "shire-admins"),
    )
    .map(
      (object) =>
        `${object.kind}:${normalise(String(object.displayName))}:passwords=${object.passwordKeyIds?.length ?? 0}:assignments=${object.assignments?.length ?? 0}:required=${object.appRoleAssignmentRequired ?? "-"}`,
    )
    .sort();
  const vault = Object.entries(state.keyvault).find(([name]) => name.startsWith(`kv-${slug}-`));
  const secrets = vault
    ? Object.entries(vault[1])
        .map(([name, entry]) => `${name}:${entry.deleted ? "deleted" : "live"}`)
        .sort()
    : [];
  const blob = Object.entries(state.blob).find(([name]) => name.startsWith(`st${slug.replace(/-/g, "")}`));
  return {
    resources,
    entra,
    secrets,
    website: blob ? { staticWebsite: blob[1].staticWebsite, web: blob[1].containers.$web ?? [] } : null,
  };
}
