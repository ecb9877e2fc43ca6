/**
 * A sandbox that survives restarts: what it emulated is still there after a stop and a start on
 * the same state directory (and after a kill -9 right after an answer), in-flight operations go
 * on where the clock says they are, the CA, port and keys stay, a torn journal line is dropped
 * while damage elsewhere is refused, and a request writes only what it changed.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { ClientSecretCredential } from "@azure/identity";
import { startSandbox, type Sandbox } from "../../src/sandbox";
import { AzureClients } from "../../src/azure/clients";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { createGraphClient } from "../../src/azure/graph";
import { createBlobServiceClient } from "../../src/azure/blob";
import { SANDBOX_BROKER_OBJECT_ID, type AzureContext } from "../../src/azure/credential";
import { sandboxTransportPolicy } from "../../src/azure/transport";
import { ManualClock } from "../../src/sandbox/state";
import { JOURNAL_FILE } from "../../src/sandbox/persistence";
import { sandboxContextFromStateDir } from "../../src/sandbox/state-dir";
import { armRaw } from "./arm-helpers";
import { raw, roleId, ROLES } from "./helpers";

const REPO_ROOT = path.resolve(__dirname, "../..");
const stateDirOf = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `shire-persist-${name}-`));
const running: Sandbox[] = [];
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const sandbox of running) await sandbox.stop().catch(() => undefined);
});

async function start(stateDir: string, options: Parameters<typeof startSandbox>[0] = {}): Promise<Sandbox> {
  const sandbox = await startSandbox({ stateDir, ...options });
  running.push(sandbox);
  return sandbox;
}

/** A sandbox in its own process (the built one), to be killed with SIGKILL; resolves once it listens. */
async function startChild(stateDir: string, faults: Record<string, unknown> = {}): Promise<ChildProcess> {
  const script = `require(${JSON.stringify(path.join(REPO_ROOT, "dist/src/sandbox/index.js"))}).startSandbox({ stateDir: ${JSON.stringify(stateDir)}, faults: ${JSON.stringify(faults)} }).then((s) => console.log("listening " + s.port), (e) => { console.error(e); process.exit(1); });`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    let output = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("listening")) resolve();
    });
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => reject(new Error(`sandbox child exited with ${code}: ${output}`)));
  });
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

const secretClient = (context: AzureContext, vaultName: string) =>
  new AzureClients(context).secrets(keyVaultUrl(context.endpoints, vaultName));

async function grantSecretsOfficer(clients: AzureClients, subscriptionId: string, scope: string) {
  await clients.authorization.roleAssignments.create(scope, "7a000000-0000-4000-8000-000000000001", {
    roleDefinitionId: `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${ROLES.secretsOfficer}`,
    principalId: SANDBOX_BROKER_OBJECT_ID,
    principalType: "ServicePrincipal",
  });
}

async function createVault(clients: AzureClients, tenantId: string, group: string, name: string) {
  await clients.resources.resourceGroups.createOrUpdate(group, { location: "westeurope" });
  return clients.keyVault.vaults.createOrUpdate(group, name, {
    location: "westeurope",
    properties: { tenantId, sku: { family: "A", name: "standard" }, enableRbacAuthorization: true },
  });
}

describe("a stop and a start on the same state directory", () => {
  it("keeps ARM resources, secrets (versions, deleted ones), Graph objects (passwords, deleted items), blobs, roles, the CA, the port and the keys", async () => {
    const stateDir = stateDirOf("everything");
    const first = await start(stateDir);
    expect(first.restored).toBe(false);
    const clients = new AzureClients(first.context());
    const context = first.context();

    // ARM: a vault the broker may write secrets to, a storage account with a static website.
    const vault = await createVault(clients, first.env.tenantId, "rg-keep", "kv-keep");
    await grantSecretsOfficer(clients, first.env.subscriptionId, vault.id!);
    await clients.storage.storageAccounts.create("rg-keep", "stkeep", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "StorageV2",
    });
    await clients.authorization.roleAssignments.create(
      (await clients.storage.storageAccounts.getProperties("rg-keep", "stkeep")).id!,
      "7a000000-0000-4000-8000-000000000002",
      {
        roleDefinitionId: roleId(first, ROLES.blobDataContributor),
        principalId: SANDBOX_BROKER_OBJECT_ID,
        principalType: "ServicePrincipal",
      },
    );
    // Key Vault: two versions of one secret, a deleted one.
    const secrets = secretClient(context, "kv-keep");
    await secrets.setSecret("gateway-token", "first-value-0001");
    const second = await secrets.setSecret("gateway-token", "second-value-0002");
    await secrets.setSecret("doomed", "doomed-value-0003");
    await (await secrets.beginDeleteSecret("doomed")).pollUntilDone();
    // Graph: an application with a password, its service principal, a group with it as member, a deleted app.
    const graph = createGraphClient(context);
    const app = await graph.api("/applications").post({ displayName: "kept-app" });
    const principal = await graph.api("/servicePrincipals").post({ appId: app.appId });
    const password = await graph
      .api(`/applications/${app.id}/addPassword`)
      .post({ passwordCredential: { displayName: "kept" } });
    const group = await graph.api("/groups").post({
      displayName: "kept-group",
      mailEnabled: false,
      mailNickname: "kept-group",
      securityEnabled: true,
      "members@odata.bind": [`https://graph.microsoft.com/v1.0/directoryObjects/${principal.id}`],
    });
    const gone = await graph.api("/applications").post({ displayName: "deleted-app" });
    await graph.api(`/applications/${gone.id}`).delete();
    // Blob: the static website.
    const blobs = createBlobServiceClient(context, "stkeep");
    await blobs.setProperties({ staticWebsite: { enabled: true, indexDocument: "index.html" } });
    await blobs
      .getContainerClient("$web")
      .getBlockBlobClient("index.html")
      .upload("<h1>kept</h1>", 13, { blobHTTPHeaders: { blobContentType: "text/html" } });
    // A signed token from the token endpoint, and the broker's own credential.
    const transport = () => {
      const policy = sandboxTransportPolicy(first.endpoints);
      return policy ? [{ policy, position: "perCall" as const }] : [];
    };
    const credentialOf = (sandbox: Sandbox, clientId: string, secret: string) =>
      new ClientSecretCredential(sandbox.env.tenantId, clientId, secret, {
        authorityHost: sandbox.endpoints.authorityHost,
        disableInstanceDiscovery: true,
        additionalPolicies: transport(),
      });
    const signedBefore = (await credentialOf(
      first,
      first.brokerCredential.clientId,
      first.brokerCredential.clientSecret,
    ).getToken(first.endpoints.graphScope))!.token;

    const before = first.inspect();
    const { port, caCertificatePem, brokerCredential } = first;
    await first.stop();

    const second2 = await start(stateDir);
    expect(second2.restored).toBe(true);
    expect(second2.port).toBe(port);
    expect(second2.caCertificatePem).toBe(caCertificatePem);
    expect(fs.readFileSync(second2.caFile, "utf8")).toBe(caCertificatePem);
    expect(second2.brokerCredential).toEqual(brokerCredential);
    expect(second2.inspect()).toEqual(before);

    const after = second2.context();
    const kept = secretClient(after, "kv-keep");
    expect((await kept.getSecret("gateway-token")).value).toBe("second-value-0002");
    const versions = [];
    for await (const version of kept.listPropertiesOfSecretVersions("gateway-token")) versions.push(version.version);
    expect(versions).toHaveLength(2);
    expect(versions).toContain(second.properties.version);
    expect((await kept.getDeletedSecret("doomed")).name).toBe("doomed");
    await (await kept.beginRecoverDeletedSecret("doomed")).pollUntilDone();
    expect((await kept.getSecret("doomed")).value).toBe("doomed-value-0003");

    const graphAfter = createGraphClient(after);
    expect((await graphAfter.api(`/groups/${group.id}/members`).get()).value.map((m: { id: string }) => m.id)).toEqual([
      principal.id,
    ]);
    expect((await graphAfter.api(`/directory/deletedItems/${gone.id}`).get()).displayName).toBe("deleted-app");
    // The password still signs the app in (the directory kept its hash), the broker's secret too.
    expect(
      await credentialOf(second2, app.appId, password.secretText).getToken(second2.endpoints.graphScope),
    ).toBeTruthy();
    expect(
      await credentialOf(second2, brokerCredential.clientId, brokerCredential.clientSecret).getToken(
        second2.endpoints.armScope,
      ),
    ).toBeTruthy();
    // A token signed before the restart still verifies (the signing key is kept).
    const withOldToken = await raw(second2, "graph", "GET", `/v1.0/servicePrincipals/${SANDBOX_BROKER_OBJECT_ID}`, {
      headers: { authorization: `Bearer ${signedBefore}` },
    });
    expect(withOldToken.status).toBe(200);
    // Blob content, through the role assignment made before the restart.
    const index = await createBlobServiceClient(after, "stkeep")
      .getContainerClient("$web")
      .getBlockBlobClient("index.html")
      .downloadToBuffer();
    expect(index.toString()).toBe("<h1>kept</h1>");
  });

  it("carries on an operation that was running, on the clock; a manual clock resumes where the state left it", async () => {
    const stateDir = stateDirOf("lro");
    const clock = new ManualClock();
    const first = await start(stateDir, {
      clock,
      faults: { lroDurationMs: { "Microsoft.Resources/resourceGroups": 60_000 } },
    });
    const clients = new AzureClients(first.context());
    await clients.resources.resourceGroups.createOrUpdate("rg-lro", { location: "westeurope" });
    clock.advance(5_000);
    const started = await armRaw(
      first,
      "DELETE",
      `/subscriptions/${first.env.subscriptionId}/resourcegroups/rg-lro?api-version=2025-04-01`,
    );
    expect(started.status).toBe(202);
    const location = String(started.headers.location);
    clock.advance(20_000);
    const savedNow = clock.now();
    await first.stop();

    // A new manual clock starts "now", behind where the state was: it is moved on, never back.
    const later = new ManualClock(savedNow - 3_600_000);
    const second = await start(stateDir, { clock: later });
    expect(later.now()).toBe(savedNow);
    // The group is still being deleted; the URL handed out before the restart still answers.
    expect((await armRaw(second, "GET", location)).status).toBe(202);
    expect(
      (
        await armRaw(
          second,
          "GET",
          `/subscriptions/${second.env.subscriptionId}/resourcegroups/rg-lro?api-version=2025-04-01`,
        )
      ).body.properties.provisioningState,
    ).toBe("Deleting");
    later.advance(40_000);
    expect((await armRaw(second, "GET", location)).status).toBe(200);
    expect(
      (
        await armRaw(
          second,
          "GET",
          `/subscriptions/${second.env.subscriptionId}/resourcegroups/rg-lro?api-version=2025-04-01`,
        )
      ).status,
    ).toBe(404);
  });

  it("moves host names to a new port when the old one is taken", async () => {
    const stateDir = stateDirOf("port");
    const first = await start(stateDir);
    const clients = new AzureClients(first.context());
    const created = await createVault(clients, first.env.tenantId, "rg-port", "kv-port");
    expect(created.properties.vaultUri).toContain(`:${first.port}/`);
    const oldPort = first.port;
    await first.stop();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(oldPort, "127.0.0.1", resolve));
    try {
      const second = await start(stateDir);
      expect(second.port).not.toBe(oldPort);
      const vault = await new AzureClients(second.context()).keyVault.vaults.get("rg-port", "kv-port");
      expect(vault.properties.vaultUri).toBe(`https://kv-port.vault.sandbox.localhost:${second.port}/`);
      expect(JSON.parse(fs.readFileSync(path.join(stateDir, "endpoint.json"), "utf8")).port).toBe(second.port);
    } finally {
      blocker.close();
    }
  });
});

describe("a sandbox killed with SIGKILL", () => {
  it("keeps every write it answered: kill -9 right after a 201, in-flight LROs go on", async () => {
    const stateDir = stateDirOf("kill");
    const child = await startChild(stateDir, { lroDurationMs: { "Microsoft.Storage/storageAccounts": 1_500 } });
    const context = sandboxContextFromStateDir(stateDir);
    const clients = new AzureClients(context);
    const vault = await createVault(clients, context.tenantId, "rg-kill", "kv-kill");
    await grantSecretsOfficer(clients, context.subscriptionId, vault.id!);
    await secretClient(context, "kv-kill").setSecret("answered", "answered-value-0001");
    // A storage account create is long-running: answered (202), then the process dies.
    const poller = await clients.storage.storageAccounts.beginCreate("rg-kill", "stkill", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "StorageV2",
    });
    expect(poller.isDone()).toBe(false);
    const graph = createGraphClient(context);
    const app = await graph.api("/applications").post({ displayName: "created-then-killed" });
    // The 201 is in: kill at once.
    await kill(child);

    const revived = await start(stateDir);
    expect(revived.restored).toBe(true);
    const after = revived.context();
    expect((await secretClient(after, "kv-kill").getSecret("answered")).value).toBe("answered-value-0001");
    expect((await createGraphClient(after).api(`/applications/${app.id}`).get()).displayName).toBe(
      "created-then-killed",
    );
    // The account was creating; it finishes when its time (on the clock) is up.
    const afterClients = new AzureClients(after);
    let state = (await afterClients.storage.storageAccounts.getProperties("rg-kill", "stkill")).provisioningState;
    for (let i = 0; i < 50 && state !== "Succeeded"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      state = (await afterClients.storage.storageAccounts.getProperties("rg-kill", "stkill")).provisioningState;
    }
    expect(state).toBe("Succeeded");
  });

  it("drops a torn last journal line, and refuses a journal damaged anywhere else", async () => {
    const stateDir = stateDirOf("torn");
    const child = await startChild(stateDir);
    const context = sandboxContextFromStateDir(stateDir);
    const clients = new AzureClients(context);
    await clients.resources.resourceGroups.createOrUpdate("rg-torn-1", { location: "westeurope" });
    await clients.resources.resourceGroups.createOrUpdate("rg-torn-2", { location: "westeurope" });
    await kill(child);
    const journal = path.join(stateDir, JOURNAL_FILE);
    const lines = fs.readFileSync(journal, "utf8");
    expect(lines.split("\n").filter(Boolean).length).toBeGreaterThanOrEqual(2);
    // What a kill in the middle of an append leaves: part of a line, no newline.
    fs.appendFileSync(journal, '{"seq":999999,"ops":[["arm.resources","/subscriptions/x/resourcegroups/torn",{"resou');
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), "shire-persist-damaged-"));
    for (const file of fs.readdirSync(stateDir)) fs.copyFileSync(path.join(stateDir, file), path.join(copy, file));

    const revived = await start(stateDir);
    const groups = [];
    for await (const group of new AzureClients(revived.context()).resources.resourceGroups.list())
      groups.push(group.name);
    expect(groups).toEqual(expect.arrayContaining(["rg-torn-1", "rg-torn-2"]));
    expect(groups).not.toContain("torn");
    await revived.stop();

    // Damage before the last line is not an interrupted write: the start fails and says where.
    const damaged = fs.readFileSync(path.join(copy, JOURNAL_FILE), "utf8").split("\n");
    damaged[0] = damaged[0].slice(0, 20);
    fs.writeFileSync(path.join(copy, JOURNAL_FILE), damaged.join("\n"));
    await expect(startSandbox({ stateDir: copy })).rejects.toThrow(/state\.journal line 1 is damaged/);
  });
});

describe("what persistence costs", () => {
  it("appends only what a request changed, nothing for a read, and folds the journal into the snapshot as it grows", async () => {
    const stateDir = stateDirOf("cost");
    // ARM's write throttling (200, then 10 a second) would make the filling slow, not the persistence.
    const sandbox = await start(stateDir, { faults: { throttleScale: 0 } });
    const clients = new AzureClients(sandbox.context());
    // Some 1.5 MB of resources (each group's tags are kept twice: as shown, and as the last request).
    const tags = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`tag${i}`, "x".repeat(500)]));
    for (let i = 0; i < 150; i++)
      await clients.resources.resourceGroups.createOrUpdate(`rg-cost-${i}`, { location: "westeurope", tags });
    const grown = sandbox.stateFiles();
    expect(grown.snapshotBytes + grown.journalBytes).toBeGreaterThan(1_400_000);
    expect(grown.compactions).toBeGreaterThan(1);

    await clients.resources.resourceGroups.get("rg-cost-7");
    const afterRead = sandbox.stateFiles();
    expect(afterRead.appends).toBe(grown.appends);
    expect(afterRead.journalBytes).toBe(grown.journalBytes);

    await clients.resources.resourceGroups.createOrUpdate("rg-cost-new", { location: "westeurope", tags: { a: "b" } });
    const afterWrite = sandbox.stateFiles();
    expect(afterWrite.appends).toBe(grown.appends + 1);
    expect(afterWrite.journalBytes - afterRead.journalBytes).toBeLessThan(2_000);
    expect(afterWrite.compactions).toBe(grown.compactions);
  });
});
