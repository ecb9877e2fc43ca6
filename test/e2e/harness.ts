/**
 * End-to-end harness: the app's HTTP API as a client calls it, the host as a separate process that
 * tests can kill, and a slug's footprint in the sandbox. The sandbox and the in-process host are
 * test/fixtures/install-host.ts.
 */
import type { Sandbox } from "../../src/sandbox";
import type { DriftRecord } from "../../src/operations/drift";
import { REPO_ROOT, startHostProcess, type RunningHost, type StartHostProcessOptions } from "../fixtures/host-process";
import { until } from "../fixtures/wait";

export { REPO_ROOT, startHostProcess, type RunningHost, type StartHostProcessOptions };

export interface OperationView {
  id: string;
  status: string;
  message: string;
  steps: { id: string; status: string; action?: string; error?: string; durationMs?: number; attempts?: number }[];
}

/** One request to the app's HTTP API, `<baseUrl>/api/<route>`, with a body already serialized. */
export async function callApi(
  baseUrl: string,
  method: string,
  route: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${baseUrl}/api/${route}`, {
    method,
    body,
    headers: { "content-type": "application/json", ...headers },
  });
  const text = await response.text();
  return {
    status: response.status,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    headers: response.headers,
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

/**
 * A host started to crash after N history events (SHIRE_FAULT_CRASH_AFTER_EVENTS) either crashes,
 * or its operation ends first: an operation's history varies with how often its waits look again
 * (a propagation, a replica's start), so one shorter than the reference run's may never reach N.
 * Then the host is stopped and the operation's end is returned instead of waiting for a crash that
 * never comes.
 */
export async function crashOrEnd(
  host: { url: string; exited: Promise<number | null>; stop(): Promise<void> },
  operationId: string | undefined,
  deadlineMs = 120_000,
): Promise<{ crashed: true; exitCode: number | null } | { crashed: false; status: string }> {
  const ended = operationId
    ? waitForOperation(host.url, operationId, deadlineMs).then((view) => view.status)
    : new Promise<never>(() => {});
  const outcome = await Promise.race([
    host.exited.then((exitCode) => ({ crashed: true as const, exitCode })),
    ended.then((status) => ({ crashed: false as const, status })),
  ]);
  if (!outcome.crashed) await host.stop();
  return outcome;
}

/**
 * Run a drift audit (`POST /api/drift` with `body`) and wait for it to complete; returns what
 * `GET /api/drift` then says (the audit's summary and every drifted slug's record).
 */
export async function auditDrift(
  baseUrl: string,
  body: unknown = {},
  deadlineMs = 120_000,
): Promise<{ audit: { auditId: string; runtimeStatus: string }; drifted: DriftRecord[] }> {
  const started = await postJson(`${baseUrl}/api/drift`, body);
  if (started.status !== 202) throw new Error(`drift audit: ${started.status} ${JSON.stringify(started.body)}`);
  return until(
    async () => {
      const { body: drift } = await getJson<{
        audit?: { auditId: string; runtimeStatus: string };
        drifted: DriftRecord[];
      }>(`${baseUrl}/api/drift`);
      const { audit } = drift;
      return audit && audit.auditId === started.body.auditId && audit.runtimeStatus === "Completed"
        ? { ...drift, audit }
        : undefined;
    },
    "the audit to finish",
    { timeoutMs: deadlineMs },
  );
}

/** Audit one slug and return its drift record (empty `drifted` when it is on its plan). */
export async function slugDrift(baseUrl: string, slug: string): Promise<DriftRecord> {
  await auditDrift(baseUrl, { slugs: [slug] });
  const record = await getJson<DriftRecord>(`${baseUrl}/api/slugs/${slug}/drift`);
  if (record.status !== 200) throw new Error(`drift of ${slug}: ${record.status}`);
  return record.body;
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
    // Revision and replica names are random: `<app>--<revision>`, `<app>--<revision>-<replica>`.
    .map((entry) => entry.replace(/--[a-z0-9]+-[0-9a-f]+-[0-9a-f]+$/, "--<revision>-<replica>"))
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
