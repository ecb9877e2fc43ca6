/**
 * Running a slug's containers as local processes with the real OpenClaw install (Node 24): the
 * seed init container's and the gateway container's commands and environments come from the
 * generated template, the Azure Files mount becomes a temp dir, and each "replica" is a process
 * group of its own (its own host name where the machine allows a UTS namespace). For the
 * revision-change and upgrade tests.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { planSlug } from "../../src/model/plan";
import { validateInstallRequest } from "../../src/model/validate";
import { resolveReferences } from "../../src/contract/reference";
import { OPENCLAW_STATE_MOUNT } from "../../src/model/openclaw";

export const OPENCLAW_DIR = process.env.SHIRE_OPENCLAW_DIR ?? path.join(os.homedir(), ".cache", "shire-openclaw");
export const NODE24 = path.join(OPENCLAW_DIR, "node24", "node_modules", ".bin", "node");
/** The OpenClaw entry point of the default release, or of `version` installed beside it. */
export const openclawEntry = (version?: string) =>
  path.join(OPENCLAW_DIR, version ? `app-${version}` : "app", "node_modules", "openclaw", "openclaw.mjs");

export interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env: { name: string; value?: string; secretRef?: string }[];
}

/** A slug's seed init container and gateway container (no Teams: nothing for the seed to download). */
export function slugContainers(slug: string, image?: string): { seed: Container; gateway: Container } {
  const validation = validateInstallRequest(slug, {
    ...(image ? { image } : {}),
    channels: { teams: { enabled: false } },
  });
  if (!validation.ok) throw new Error("spec invalid");
  const plan = planSlug(validation.spec, {
    subscriptionId: "00000000-0000-4000-8000-000000000001",
    tenantId: "00000000-0000-4000-8000-0000000000aa",
    brokerPrincipalId: "00000000-0000-4000-8000-0000000000b0",
    vaultUri: (name) => `https://${name}.vault.azure.net/`,
  });
  const node = plan.nodes.find((candidate) => candidate.id === "containerApp")!;
  const desired = resolveReferences(node.desired as never, {
    managedEnvironment: { resourceId: "/env", defaultDomain: `${slug}.westeurope.azurecontainerapps.io` },
    entraApp: { appId: "11111111-1111-4111-8111-111111111111", applicationObjectId: "x", servicePrincipalId: "y" },
  }) as { template: { initContainers: Container[]; containers: Container[] } };
  return { seed: desired.template.initContainers[0], gateway: desired.template.containers[0] };
}

export const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) =>
    child.exitCode !== null || child.signalCode !== null
      ? resolve(child.exitCode)
      : child.on("exit", (code) => resolve(code)),
  );

/** Read-only query of a state database (node:sqlite in OpenClaw's Node 24). */
export function query(database: string, sql: string): Record<string, unknown>[] {
  const result = spawnSync(
    NODE24,
    [
      "-e",
      `const { DatabaseSync } = require("node:sqlite"); const db = new DatabaseSync(process.argv[1], { readOnly: true }); console.log(JSON.stringify(db.prepare(process.argv[2]).all()));`,
      database,
      sql,
    ],
    { encoding: "utf8" },
  );
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as Record<string, unknown>[];
}

export class Replicas {
  readonly work: string;
  readonly stateDir: string;
  /** Each process's output by name. */
  readonly output: Record<string, string[]> = {};
  private readonly children: ChildProcess[] = [];
  /** Own host name per replica when the machine lets us (`unshare -u`, as root); else the machine's. */
  readonly ownHostNames: boolean;

  constructor(prefix: string, options: { ownHostNames?: boolean } = {}) {
    this.work = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.stateDir = path.join(this.work, "state");
    fs.mkdirSync(path.join(this.work, "home"), { recursive: true });
    fs.mkdirSync(this.stateDir, { recursive: true });
    this.ownHostNames = (options.ownHostNames ?? true) && spawnSync("unshare", ["-u", "true"]).status === 0;
  }

  /** The container's environment with the share moved to the temp dir, plus the replica's identity. */
  envFor(container: Container, replica: string, revision: string, port?: number): Record<string, string> {
    const env: Record<string, string> = {
      PATH: `${path.dirname(NODE24)}:${process.env.PATH}`,
      HOME: path.join(this.work, "home"),
      CONTAINER_APP_REPLICA_NAME: replica,
      CONTAINER_APP_REVISION: revision,
    };
    for (const entry of container.env)
      env[entry.name] = (entry.secretRef ? "replica-test-gateway-token-0123456789" : String(entry.value))
        .split(OPENCLAW_STATE_MOUNT)
        .join(this.stateDir);
    if (port) env.OPENCLAW_GATEWAY_PORT = String(port);
    return env;
  }

  /** node24 <args> as replica `replica`, its own process group. */
  start(name: string, replica: string, args: string[], env: Record<string, string>): ChildProcess {
    const child = this.ownHostNames
      ? spawn("unshare", ["-u", "sh", "-c", 'hostname "$0" && exec "$@"', replica, NODE24, ...args], {
          env,
          stdio: ["ignore", "pipe", "pipe"],
          detached: true,
        })
      : spawn(NODE24, args, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    this.output[name] = [];
    const keep = (chunk: Buffer) => this.output[name].push(chunk.toString());
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    this.children.push(child);
    return child;
  }

  logs(): string {
    return Object.entries(this.output)
      .map(([name, lines]) => `--- ${name}\n${lines.join("").slice(-3000)}`)
      .join("\n");
  }

  async until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
    const started = Date.now();
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms\n${this.logs()}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** SIGTERM lets each supervisor stop its gateway; whatever is left after 30 s is killed. */
  async stopAll(): Promise<void> {
    for (const child of this.children) if (child.exitCode === null) child.kill("SIGTERM");
    await Promise.race([Promise.all(this.children.map(exited)), new Promise((resolve) => setTimeout(resolve, 30_000))]);
    for (const child of this.children)
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // gone
      }
  }
}
