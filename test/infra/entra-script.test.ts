/**
 * infra/broker/entra.sh, the Entra half of the broker's deployment, run by bash against a fake
 * Azure CLI (test/fixtures/fake-az.cjs: `az rest` on a small Microsoft Graph): it grants the
 * broker's identity exactly the Graph permissions docs/security.md lists, by the ids Graph gives
 * them; it creates the API's app registration with the roles the API checks; it assigns them; and
 * running any of it again writes nothing.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { ROLES } from "../../src/api/auth";
import { BROKER_GRAPH_PERMISSIONS } from "../../src/sandbox/graph/permissions";

const ROOT = path.join(__dirname, "..", "..");
const SCRIPT = path.join(ROOT, "infra", "broker", "entra.sh");
const hasJq = spawnSync("jq", ["--version"]).status === 0;
/** The script needs jq, as it says; a machine without it skips these, visibly. */
const itWithJq = it.skipIf(!hasJq);

const GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000";
const GRAPH_SP = "0a0a0a0a-0000-4000-8000-00000000a001";
const BROKER = "0b0b0b0b-0000-4000-8000-00000000b001";

interface Request {
  method: string;
  path: string;
  body?: Record<string, unknown>;
  headers?: string;
}
interface GraphState {
  servicePrincipals: Record<string, unknown>[];
  applications: Record<string, unknown>[];
  assignments: Record<string, string>[];
}

let dir: string;
const statePath = () => path.join(dir, "graph.json");
const logPath = () => path.join(dir, "requests.jsonl");
const graph = (): GraphState => JSON.parse(fs.readFileSync(statePath(), "utf8")) as GraphState;
const requests = (): Request[] =>
  fs.existsSync(logPath())
    ? fs
        .readFileSync(logPath(), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Request)
    : [];
const writes = () => requests().filter((request) => request.method !== "GET");

/** Microsoft Graph's application permissions in this tenant, with ids as Graph gives them. */
const graphRole = (value: string, memberTypes = ["Application"]) => ({
  id: `${value.length.toString(16).padStart(8, "0")}-${Buffer.from(value).toString("hex").slice(0, 4)}-4000-8000-${memberTypes[0] === "Application" ? "a" : "d"}${"0".repeat(11)}`,
  value,
  allowedMemberTypes: memberTypes,
});
const GRAPH_ROLES = [
  ...[...BROKER_GRAPH_PERMISSIONS, "Directory.ReadWrite.All", "User.Read.All"].map((value) => graphRole(value)),
  // A delegated permission of the same name must not be taken for the application one.
  { ...graphRole("Group.ReadWrite.All", ["User"]), id: "dddddddd-0000-4000-8000-000000000001" },
];

function run(...args: string[]) {
  const result = spawnSync("bash", [SCRIPT, ...args], {
    encoding: "utf8",
    env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, FAKE_AZ_STATE: statePath(), FAKE_AZ_LOG: logPath() },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-entra-"));
  fs.copyFileSync(path.join(ROOT, "test", "fixtures", "fake-az.cjs"), path.join(dir, "az"));
  fs.chmodSync(path.join(dir, "az"), 0o755);
  const state: GraphState = {
    servicePrincipals: [
      { id: GRAPH_SP, appId: GRAPH_APP_ID, displayName: "Microsoft Graph", appRoles: GRAPH_ROLES },
      // The broker's user-assigned identity, as the deployment made it.
      { id: BROKER, appId: "0c0c0c0c-0000-4000-8000-00000000c001", displayName: "id-shire", appRoles: [] },
    ],
    applications: [],
    assignments: [],
  };
  fs.writeFileSync(statePath(), JSON.stringify(state));
});

describe("entra.sh grant-graph", () => {
  itWithJq("grants the broker's identity the Graph application permissions docs/security.md lists, once", () => {
    const first = run("grant-graph", "--principal-id", BROKER);
    expect(first.status, first.stderr).toBe(0);
    const granted = graph().assignments.filter((assignment) => assignment.principalId === BROKER);
    expect(granted.every((assignment) => assignment.resourceId === GRAPH_SP)).toBe(true);
    const byId = new Map(GRAPH_ROLES.map((role) => [role.id, role]));
    expect(granted.map((assignment) => byId.get(assignment.appRoleId)!.value).sort()).toEqual(
      [...BROKER_GRAPH_PERMISSIONS].sort(),
    );
    // Application permissions, not the delegated ones of the same name.
    for (const assignment of granted)
      expect(byId.get(assignment.appRoleId)!.allowedMemberTypes).toContain("Application");
    for (const permission of BROKER_GRAPH_PERMISSIONS) expect(first.stdout).toContain(`${permission}: granted`);

    fs.rmSync(logPath());
    const again = run("grant-graph", "--principal-id", BROKER);
    expect(again.status, again.stderr).toBe(0);
    expect(writes()).toEqual([]);
    for (const permission of BROKER_GRAPH_PERMISSIONS) expect(again.stdout).toContain(`${permission}: already granted`);
  });

  itWithJq("grants only what is missing", () => {
    const state = graph();
    const held = GRAPH_ROLES.find((role) => role.value === "Application.Read.All")!;
    state.assignments.push({ id: "x", principalId: BROKER, resourceId: GRAPH_SP, appRoleId: held.id });
    fs.writeFileSync(statePath(), JSON.stringify(state));
    expect(run("grant-graph", "--principal-id", BROKER).status).toBe(0);
    expect(writes().map((request) => request.body?.appRoleId)).not.toContain(held.id);
    expect(writes()).toHaveLength(BROKER_GRAPH_PERMISSIONS.length - 1);
  });

  itWithJq("says which permission this Graph does not have, and grants none", () => {
    const state = graph();
    const graphSp = state.servicePrincipals.find((principal) => principal.id === GRAPH_SP)!;
    graphSp.appRoles = GRAPH_ROLES.filter((role) => role.value !== "AppRoleAssignment.ReadWrite.All");
    fs.writeFileSync(statePath(), JSON.stringify(state));
    const result = run("grant-graph", "--principal-id", BROKER);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("no application permission AppRoleAssignment.ReadWrite.All");
    expect(writes()).toEqual([]);
  });

  it("lists the same permissions as docs/security.md and the sandbox's broker", () => {
    const script = fs.readFileSync(SCRIPT, "utf8");
    const listed = /GRAPH_PERMISSIONS=\(([\s\S]*?)\n\)/
      .exec(script)![1]
      .match(/"([\w.]+)"/g)!
      .map((quoted) => quoted.slice(1, -1));
    expect(listed).toEqual(BROKER_GRAPH_PERMISSIONS);
    const security = fs.readFileSync(path.join(ROOT, "docs", "security.md"), "utf8");
    const row = security.split("\n").find((line) => line.startsWith("| Microsoft Graph (application)"))!;
    const granted = row.split(" | ")[1];
    expect(granted.match(/`([\w.]+)`/g)!.map((quoted) => quoted.slice(1, -1))).toEqual(BROKER_GRAPH_PERMISSIONS);
  });
});

describe("entra.sh api-app and assign-role", () => {
  itWithJq("creates the API's app registration with the roles the API checks, and a re-run creates nothing", () => {
    const first = run("api-app");
    expect(first.status, first.stderr).toBe(0);
    const [app] = graph().applications as {
      id: string;
      appId: string;
      identifierUris: string[];
      appRoles: { id: string; value: string; allowedMemberTypes: string[]; isEnabled: boolean }[];
      api: { requestedAccessTokenVersion: number; preAuthorizedApplications: { appId: string }[] };
    }[];
    expect(first.stdout).toContain(`authClientId=${app.appId}`);
    expect(app.appRoles.map((role) => role.value)).toEqual([...ROLES]);
    for (const role of app.appRoles) {
      expect(role.allowedMemberTypes.sort()).toEqual(["Application", "User"]);
      expect(role.isEnabled).toBe(true);
    }
    // Tokens for api://<appId> (the template's allowed audience), v2 (the issuer it names), from the Azure CLI.
    expect(app.identifierUris).toEqual([`api://${app.appId}`]);
    expect(app.api.requestedAccessTokenVersion).toBe(2);
    expect(app.api.preAuthorizedApplications.map((client) => client.appId)).toEqual([
      "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
    ]);
    const principal = graph().servicePrincipals.find((candidate) => candidate.appId === app.appId);
    expect(principal).toMatchObject({ appRoleAssignmentRequired: true });

    const roleIds = app.appRoles.map((role) => role.id);
    fs.rmSync(logPath());
    const again = run("api-app");
    expect(again.status, again.stderr).toBe(0);
    expect(graph().applications).toHaveLength(1);
    expect(graph().servicePrincipals.filter((candidate) => candidate.appId === app.appId)).toHaveLength(1);
    expect((graph().applications[0].appRoles as { id: string }[]).map((role) => role.id)).toEqual(roleIds);
    expect(writes().filter((request) => request.method === "POST")).toEqual([]);
  });

  itWithJq("assigns an app role once, and refuses a role the API does not have", () => {
    expect(run("api-app").status).toBe(0);
    const operator = "0d0d0d0d-0000-4000-8000-00000000d001";
    const first = run("assign-role", "--principal-id", operator, "--role", "Shire.Operator");
    expect(first.status, first.stderr).toBe(0);
    const app = graph().applications[0] as { appId: string; appRoles: { id: string; value: string }[] };
    const apiSp = graph().servicePrincipals.find((candidate) => candidate.appId === app.appId)!;
    expect(graph().assignments).toEqual([
      expect.objectContaining({
        principalId: operator,
        resourceId: apiSp.id,
        appRoleId: app.appRoles.find((role) => role.value === "Shire.Operator")!.id,
      }),
    ]);
    expect(run("assign-role", "--principal-id", operator, "--role", "Shire.Operator").stdout).toContain(
      "already has Shire.Operator",
    );
    expect(graph().assignments).toHaveLength(1);
    const unknown = run("assign-role", "--principal-id", operator, "--role", "Shire.Owner");
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toContain("no role 'Shire.Owner'");
  });

  it("answers a missing argument with what it needs", () => {
    const result = run("grant-graph");
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/--principal-id/);
  });
});
