#!/usr/bin/env node
/**
 * `shire`: the broker's command line, a thin client of its HTTP API (docs/cli.md). Operations it
 * starts are followed to their end with a live display (`--no-follow` returns at once, `--json`
 * prints the final JSON for scripts). Exit codes scripts can rely on: 0 done, 1 the operation
 * failed or was canceled, 2 usage, 3 the broker refused (400, 401, 403, 404, 409, 413, 422) or
 * could not be reached.
 */
import fs from "node:fs";
import { ApiError, ShireClient } from "./client";
import { follow, type OperationView } from "./progress";

export const EXIT = { done: 0, failed: 1, usage: 2, refused: 3 } as const;

const USAGE = `usage: shire [--url <broker>] [--json] [--no-follow] <command> ...

  install <slug> [--spec <file|->] [--image <image>]   install or converge a slug (the spec is the install body)
  plan <slug> [--spec <file|->] [--image <image>]      what an install would change (nothing is written)
  upgrade <slug> --image <image>                       move a slug to another OpenClaw image
  rotate <slug> [--secret <name>]...                   rotate the slug's secrets (default: every rotatable one)
  teardown <slug> --confirm <slug> [--purge]           retire, then destroy after the grace period (at once with --purge)
  teardown <slug> --cancel                             restore a slug in its grace period
  cancel <operationId>                                 stop a running operation
  status [<slug>]                                      what Shire knows of every slug, or of one
  operations [--slug s] [--kind k] [--status s] [--since t] [--limit n]   the journal, newest first
  operation <operationId> [--follow]                   one operation (followed to its end with --follow)
  wave start --image <image> (--slugs a,b,c | --selector [version=<image>,][region=<r>,][prefix=<p>])
       [--canary a,b | --canary <count>] [--batch-size n] [--max-parallel n] [--max-failures n]
  wave status|pause|resume|cancel <waveId>
  secrets set <slug> <name> [--file <path>]            an operator secret into the slug's vault (value from the file or stdin, never an argument)
  teams-app <slug> [--out <file>]                      the slug's Teams app package (zip)
  placement [--region <r>]                             the pool's room, subscription by subscription, as the next install sees it

The broker: --url, else SHIRE_URL, else http://localhost:7071. Against a deployed broker, set
SHIRE_TOKEN to a bearer token for its Entra app (az account get-access-token --resource <app id uri>).
Exit: 0 done, 1 failed or canceled, 2 usage, 3 refused by the broker or unreachable.`;

class UsageError extends Error {}

interface Parsed {
  positional: string[];
  flags: Map<string, string[]>;
}

const BOOLEAN_FLAGS = new Set(["json", "no-follow", "follow", "purge", "cancel", "help"]);

export function parseArgs(argv: string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    let value: string;
    if (BOOLEAN_FLAGS.has(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value.`);
      value = "true";
    } else if (inline !== undefined) value = inline;
    else {
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`--${name} needs a value.`);
      value = next;
    }
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return { positional, flags };
}

function one(parsed: Parsed, name: string): string | undefined {
  const values = parsed.flags.get(name);
  if (values && values.length > 1) throw new UsageError(`--${name} given more than once.`);
  return values?.[0];
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined || value === "") throw new UsageError(`${what} is required.`);
  return value;
}

/** `--selector version=<image>,region=<r>,prefix=<p>` (each optional) as the wave's selector object. */
function selectorOf(text: string): Record<string, string> {
  const selector: Record<string, string> = {};
  for (const pair of text.split(",").filter(Boolean)) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new UsageError(`--selector takes key=value pairs (version, region, prefix), not '${pair}'.`);
    selector[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return selector;
}

function integer(parsed: Parsed, name: string): number | undefined {
  const value = one(parsed, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} takes a whole number, not '${value}'.`);
  return Number(value);
}

function readSpec(parsed: Parsed): Record<string, unknown> {
  const source = one(parsed, "spec");
  let spec: Record<string, unknown> = {};
  if (source !== undefined) {
    const text = source === "-" ? fs.readFileSync(0, "utf8") : fs.readFileSync(source, "utf8");
    try {
      spec = JSON.parse(text) as Record<string, unknown>;
    } catch (error) {
      throw new UsageError(`--spec ${source} is not JSON: ${(error as Error).message}`);
    }
  }
  const image = one(parsed, "image");
  return image ? { ...spec, image } : spec;
}

export interface Io {
  stdout: { isTTY: boolean; write(text: string): void };
  stderr: { write(text: string): void };
  env: NodeJS.ProcessEnv;
  readStdin(): string;
}

const defaultIo: Io = {
  stdout: { isTTY: Boolean(process.stdout.isTTY), write: (text) => void process.stdout.write(text) },
  stderr: { write: (text) => void process.stderr.write(text) },
  env: process.env,
  readStdin: () => fs.readFileSync(0, "utf8"),
};

export async function run(argv: string[], io: Io = defaultIo): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv);
    if (parsed.flags.has("help") || parsed.positional.length === 0) {
      io.stdout.write(`${USAGE}\n`);
      return parsed.flags.has("help") ? EXIT.done : EXIT.usage;
    }
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return EXIT.usage;
  }
  const client = new ShireClient({
    url: one(parsed, "url") ?? io.env.SHIRE_URL ?? "http://localhost:7071",
    ...(io.env.SHIRE_TOKEN ? { token: io.env.SHIRE_TOKEN } : {}),
  });
  const json = parsed.flags.has("json");
  const print = (value: unknown, human: () => string) =>
    io.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);

  /** Follow what the broker started (202 `{operationId}`), unless told not to. */
  const started = async (answer: { operationId: string; statusUrl?: string }): Promise<number> => {
    if (parsed.flags.has("no-follow")) {
      print(answer, () => `started ${answer.operationId}`);
      return EXIT.done;
    }
    const final = await follow(
      () => client.request<OperationView>("GET", `operations/${encodeURIComponent(answer.operationId)}`),
      json ? { isTTY: false, write: () => undefined } : io.stdout,
    );
    if (json) print(final, () => "");
    return final.status === "succeeded" ? EXIT.done : EXIT.failed;
  };

  try {
    const [command, ...args] = parsed.positional;
    switch (command) {
      case "install":
      case "plan": {
        const slug = need(args[0], `${command} <slug>`);
        if (command === "plan") {
          const plan = await client.request<{
            summary: Record<string, number>;
            changes: { node: string; action: string; changed?: string[] }[];
            directoryQuota?: { used: number; limit: number; needed: number; fits: boolean };
            placement?: { subscriptionId: string };
          }>("POST", `slugs/${encodeURIComponent(slug)}/plan`, readSpec(parsed));
          const quota = plan.directoryQuota;
          print(plan, () =>
            [
              Object.entries(plan.summary)
                .map(([action, n]) => `${n} ${action}`)
                .join(", "),
              ...(plan.placement ? [`Subscription: ${plan.placement.subscriptionId}`] : []),
              ...plan.changes
                .filter((change) => change.action !== "unchanged")
                .map(
                  (change) =>
                    `  ${change.action.padEnd(18)} ${change.node}${change.changed?.length ? ` (${change.changed.join(", ")})` : ""}`,
                ),
              ...(quota
                ? [
                    `Entra objects: ${quota.needed} to create, ${quota.used} of ${quota.limit} used${quota.fits ? "" : ": install would be refused (DirectoryQuotaExceeded)"}`,
                  ]
                : []),
            ].join("\n"),
          );
          return EXIT.done;
        }
        return started(await client.request("POST", `slugs/${encodeURIComponent(slug)}/install`, readSpec(parsed)));
      }
      case "upgrade": {
        const slug = need(args[0], "upgrade <slug>");
        return started(
          await client.request("POST", `slugs/${encodeURIComponent(slug)}/upgrade`, {
            image: need(one(parsed, "image"), "--image"),
          }),
        );
      }
      case "rotate": {
        const slug = need(args[0], "rotate <slug>");
        const secrets = parsed.flags.get("secret");
        return started(
          await client.request("POST", `slugs/${encodeURIComponent(slug)}/rotate`, secrets ? { secrets } : {}),
        );
      }
      case "teardown": {
        const slug = need(args[0], "teardown <slug>");
        if (parsed.flags.has("cancel"))
          return started(await client.request("POST", `slugs/${encodeURIComponent(slug)}/teardown/cancel`));
        const confirm = need(one(parsed, "confirm"), "--confirm <slug> (the slug's name again)");
        return started(
          await client.request("POST", `slugs/${encodeURIComponent(slug)}/teardown`, {
            confirm,
            ...(parsed.flags.has("purge") ? { purge: true } : {}),
          }),
        );
      }
      case "cancel": {
        const id = need(args[0], "cancel <operationId>");
        return started(await client.request("POST", `operations/${encodeURIComponent(id)}/cancel`));
      }
      case "status": {
        if (args[0]) {
          const slug = await client.request<Record<string, unknown>>("GET", `slugs/${encodeURIComponent(args[0])}`);
          print(
            slug,
            () =>
              `${slug.slug}: ${slug.state}${slug.version ? ` ${slug.version}` : ""}${slug.url ? ` ${slug.url}` : ""}${slug.destroyAt ? ` (destroyed at ${slug.destroyAt})` : ""}`,
          );
        } else {
          const { slugs } = await client.request<{ slugs: Record<string, unknown>[] }>("GET", "slugs");
          print(slugs, () =>
            slugs.length
              ? slugs
                  .map(
                    (slug) => `${String(slug.slug).padEnd(16)} ${String(slug.state).padEnd(11)} ${slug.version ?? ""}`,
                  )
                  .join("\n")
              : "no slugs",
          );
        }
        return EXIT.done;
      }
      case "operations": {
        const query = new URLSearchParams();
        for (const name of ["slug", "kind", "status", "since", "limit", "continuationToken"]) {
          const value = one(parsed, name);
          if (value !== undefined) query.set(name, value);
        }
        const page = await client.request<{ operations: OperationView[]; continuationToken?: string }>(
          "GET",
          `operations${query.size ? `?${query}` : ""}`,
        );
        print(
          page,
          () =>
            [
              ...page.operations.map(
                (op) => `${op.createdAt}  ${op.kind.padEnd(9)} ${op.slug.padEnd(16)} ${op.status.padEnd(10)} ${op.id}`,
              ),
              ...(page.continuationToken ? [`(more: --continuationToken ${page.continuationToken})`] : []),
            ].join("\n") || "no operations",
        );
        return EXIT.done;
      }
      case "operation": {
        const id = need(args[0], "operation <operationId>");
        if (parsed.flags.has("follow")) return started({ operationId: id });
        const operation = await client.request<OperationView>("GET", `operations/${encodeURIComponent(id)}`);
        print(operation, () =>
          [
            `${operation.kind} ${operation.slug} ${operation.status}: ${operation.message}`,
            ...operation.steps.map(
              (step) => `  ${step.status.padEnd(8)} ${step.title ?? step.id}${step.error ? `: ${step.error}` : ""}`,
            ),
          ].join("\n"),
        );
        return operation.status === "failed" || operation.status === "canceled" ? EXIT.failed : EXIT.done;
      }
      case "wave": {
        const [action, id] = args;
        if (action === "start") {
          const slugs = one(parsed, "slugs");
          const canary = one(parsed, "canary");
          const body = {
            image: need(one(parsed, "image"), "--image"),
            ...(slugs ? { slugs: slugs.split(",").filter(Boolean) } : {}),
            ...(one(parsed, "selector") ? { selector: selectorOf(one(parsed, "selector")!) } : {}),
            ...(canary ? { canary: /^\d+$/.test(canary) ? Number(canary) : canary.split(",").filter(Boolean) } : {}),
            ...(integer(parsed, "batch-size") !== undefined ? { batchSize: integer(parsed, "batch-size") } : {}),
            ...(integer(parsed, "max-parallel") !== undefined ? { maxParallel: integer(parsed, "max-parallel") } : {}),
            ...(integer(parsed, "max-failures") !== undefined ? { maxFailures: integer(parsed, "max-failures") } : {}),
          };
          const answer = await client.request<{ waveId?: string; id?: string }>("POST", "waves", body);
          print(answer, () => `started wave ${answer.waveId ?? answer.id}`);
          return EXIT.done;
        }
        if (!["status", "pause", "resume", "cancel"].includes(action ?? ""))
          throw new UsageError("wave start|status|pause|resume|cancel");
        const waveId = need(id, `wave ${action} <waveId>`);
        const answer =
          action === "status"
            ? await client.request("GET", `waves/${encodeURIComponent(waveId)}`)
            : await client.request("POST", `waves/${encodeURIComponent(waveId)}/${action}`);
        print(answer, () => JSON.stringify(answer, null, 2));
        return EXIT.done;
      }
      case "secrets": {
        const [action, slug, name] = args;
        if (action !== "set") throw new UsageError("secrets set <slug> <name> [--file <path>]");
        need(slug, "secrets set <slug>");
        need(name, "secrets set <slug> <name>");
        const file = one(parsed, "file");
        const value = (file ? fs.readFileSync(file, "utf8") : io.readStdin()).replace(/\r?\n$/, "");
        if (!value) throw new UsageError("The secret's value is empty: give it on stdin or with --file.");
        const answer = await client.request<{ operationId?: string; version?: string }>(
          "PUT",
          `slugs/${encodeURIComponent(slug!)}/secrets/${encodeURIComponent(name!)}`,
          undefined,
          value,
        );
        if (answer?.operationId) return started({ operationId: answer.operationId });
        print(answer, () => `set ${name}${answer?.version ? ` (version ${answer.version})` : ""}`);
        return EXIT.done;
      }
      case "placement": {
        const region = one(parsed, "region");
        const view = await client.request<{
          region: string;
          subscriptions: {
            subscriptionId: string;
            serves: boolean;
            fits?: boolean;
            environments?: { used: number; limit: number; pending?: number };
            roleAssignments?: { used: number; limit: number; pending?: number };
          }[];
          nextSubscriptionId: string | null;
        }>("GET", `placement${region ? `?region=${encodeURIComponent(region)}` : ""}`);
        const quota = (name: string, room?: { used: number; limit: number; pending?: number }) =>
          room ? ` ${name} ${room.used}/${room.limit}${room.pending ? ` (${room.pending} pending)` : ""}` : "";
        print(view, () =>
          [
            ...view.subscriptions.map(
              (entry) =>
                `${entry.subscriptionId}  ${
                  entry.serves
                    ? `${entry.fits ? "room" : "full"}:${quota("environments", entry.environments)}${quota("role assignments", entry.roleAssignments)}`
                    : `does not serve ${view.region}`
                }`,
            ),
            `next install in ${view.region}: ${view.nextSubscriptionId ?? "refused (PlacementPoolFull)"}`,
          ].join("\n"),
        );
        return EXIT.done;
      }
      case "teams-app": {
        const slug = need(args[0], "teams-app <slug>");
        const out = one(parsed, "out") ?? `${slug}-teams-app.zip`;
        const url = `${(one(parsed, "url") ?? io.env.SHIRE_URL ?? "http://localhost:7071").replace(/\/+$/, "")}/api/slugs/${encodeURIComponent(slug)}/teams-app`;
        const response = await fetch(url, {
          headers: io.env.SHIRE_TOKEN ? { authorization: `Bearer ${io.env.SHIRE_TOKEN}` } : {},
        });
        if (!response.ok) {
          const error = ((await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } })
            .error;
          throw new ApiError(
            response.status,
            error?.code ?? `Http${response.status}`,
            error?.message ?? response.statusText,
          );
        }
        fs.writeFileSync(out, Buffer.from(await response.arrayBuffer()));
        print({ file: out }, () => `wrote ${out}`);
        return EXIT.done;
      }
      default:
        throw new UsageError(`Unknown command '${command}'.`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`${error.message}\n${USAGE}\n`);
      return EXIT.usage;
    }
    if (error instanceof ApiError) {
      io.stderr.write(`${error.code}: ${error.message}\n`);
      if (Array.isArray(error.details))
        for (const problem of error.details as { path?: string; message?: string }[])
          io.stderr.write(`  ${problem.path || "(body)"}: ${problem.message}\n`);
      if (json)
        io.stdout.write(
          `${JSON.stringify({ error: { status: error.status, code: error.code, message: error.message, details: error.details } }, null, 2)}\n`,
        );
      return error.status >= 500 ? EXIT.failed : EXIT.refused;
    }
    throw error;
  }
}

if (require.main === module) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
