/**
 * Rotation end to end: the real app on the local host against the sandbox, through the HTTP API.
 * `POST /api/slugs/{slug}/rotate` rotates every kind with the app restarted onto the new versions
 * and the old credentials refused; the slug's record shows each secret's rotation; bad requests
 * change nothing; a failed restart revokes nothing and a second rotation finishes the first;
 * `PUT /api/slugs/{slug}/secrets/{name}` puts an operator's secret in the vault and nowhere else.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { callApi, getJson, install, postJson, waitForOperation, type OperationView } from "./harness";
import { useInstallHost } from "../fixtures/install-host";
import { credentialProblems, secretValues } from "../fixtures/rotation";
import { OperationStore, type SlugRecord } from "../../src/operations/records";
import { rotatable, rotationTargets, type RotationTargets } from "../../src/operations/rotation";
import type { RotationRecord } from "../../src/operations/rotation-record";

const shire = useInstallHost({ env: { SHIRE_ROTATION_GRACE_SECONDS: "3600" } });

async function targetsOf(slug: string): Promise<RotationTargets> {
  return rotationTargets(await OperationStore.fromEnv().getApplied(slug))!;
}

async function rotate(slug: string, body: unknown = {}): Promise<OperationView> {
  const started = await postJson(`${shire.url}/api/slugs/${slug}/rotate`, body);
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return waitForOperation(shire.url, String(started.body.operationId));
}

function succeeded(operation: OperationView): void {
  expect(operation.status, JSON.stringify(operation.steps.filter((step) => step.status !== "done"))).toBe("succeeded");
}

/**
 * Install a slug with Telegram: the first install stops at the token Shire cannot make; the
 * operator puts it (written only: the slug is failed) and installs again.
 */
async function installWithTelegram(slug: string, token: string): Promise<void> {
  const body = { channels: { telegram: { enabled: true } } };
  const first = await install(shire.url, slug, body);
  expect(first.status).toBe("failed");
  expect(first.steps.find((step) => step.id === "secret:telegramBotToken")?.error).toMatch(/SecretNotSupplied/);
  const put = await callApi(shire.url, "PUT", `slugs/${slug}/secrets/telegram-bot-token`, token, {
    "content-type": "text/plain",
  });
  expect(put.status, JSON.stringify(put.json)).toBe(200);
  expect(put.json).toMatchObject({ secret: "telegram-bot-token", message: expect.stringMatching(/Install .* again/) });
  succeeded(await install(shire.url, slug, body));
}

/** Every file under `dir` whose bytes contain `value`. */
function filesContaining(dir: string, value: string): string[] {
  const found: string[] = [];
  const needle = Buffer.from(value);
  const walk = (at: string) => {
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && fs.readFileSync(full).includes(needle)) found.push(full);
    }
  };
  walk(dir);
  return found;
}

describe("rotation", () => {
  it("rotates every kind on demand: the app runs the new versions, the replaced credentials are refused, the record says so", async () => {
    await shire.clients.resources.resourceGroups.createOrUpdate("rg-foundry-e2e", { location: "westeurope" });
    const account = await shire.clients.cognitiveServices.accounts.beginCreateAndWait("rg-foundry-e2e", "ai-e2e", {
      location: "westeurope",
      kind: "AIServices",
      sku: { name: "S0" },
      properties: { customSubDomainName: "ai-e2e-rotation" },
    });
    succeeded(
      await install(shire.url, "spin", {
        // A bot on its own app registration, so its password is one of the kinds rotated.
        channels: { teams: { enabled: true, botIdentity: "appRegistration" } },
        foundry: { endpoint: "https://ai-e2e-rotation.openai.azure.com/", accountResourceId: account.id },
      }),
    );
    const targets = await targetsOf("spin");
    const names = rotatable(targets).map((secret) => secret.name);
    expect(names).toEqual([
      "entra-client-secret",
      "foundry-api-key",
      "gateway-token",
      "storage-account-key",
      "teams-app-password",
    ]);
    const before = secretValues(shire.sandbox, targets);
    const operation = await rotate("spin");
    succeeded(operation);
    expect(operation.steps.map((step) => step.id)).toEqual([
      ...names.map((name) => `stage:${name}`),
      "restart",
      ...names.map((name) => `revoke:${name}`),
      "retireVersions",
    ]);
    expect(await credentialProblems(shire.sandbox, shire.clients, targets, { before, rotated: names })).toEqual([]);
    // No secret value anywhere in the durable state, the records or the host's log.
    const after = secretValues(shire.sandbox, targets);
    for (const value of [...Object.values(before), ...Object.values(after)].filter((v): v is string => !!v)) {
      expect(filesContaining(shire.hostStateDir, value)).toEqual([]);
      expect(shire.logs.join("\n")).not.toContain(value);
      expect(fs.readFileSync(shire.logFile, "utf8")).not.toContain(value);
    }

    const record = (await getJson<SlugRecord & { rotation: RotationRecord }>(`${shire.url}/api/slugs/spin`)).body;
    expect(record.state).toBe("installed");
    const vault = shire.clients.secrets(`https://${targets.vaultName}.vault.sandbox.localhost:${shire.sandbox.port}/`);
    for (const name of names) {
      const entry = record.rotation.secrets.find((secret) => secret.name === name)!;
      const latest = await vault.getSecret(name);
      expect(entry, name).toMatchObject({
        version: latest.properties.version,
        state: "done",
        lastRotatedAt: latest.properties.createdOn!.toISOString(),
        lastResult: { operationId: operation.id, status: "succeeded" },
      });
      expect(Date.parse(entry.nextDueAt!) - Date.parse(entry.lastRotatedAt!)).toBe(90 * 86_400_000);
    }
    // A second rotation right away: the old versions are within their grace period, so none is disabled yet.
    expect(record.rotation.oldVersionsDisableAt).not.toBeNull();
  }, 180_000);

  it("refuses a bad request, a secret the slug does not have or does not rotate itself, and a busy slug, writing nothing", async () => {
    await installWithTelegram("fussy", "111:first-token");
    const mark = shire.mark();
    for (const [body, detail] of [
      [{ secrets: "gateway-token" }, /must be a list/],
      [{ secrets: ["nope"] }, /has no secret 'nope'/],
      [{ secrets: ["telegram-bot-token"] }, /supplied by the operator: write the new value with PUT/],
      [{ secrets: ["gateway-token", "gateway-token"] }, /listed twice/],
      [{ force: true }, /not a known field/],
    ] as const) {
      const refused = await postJson(`${shire.url}/api/slugs/fussy/rotate`, body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(JSON.stringify(refused.body), JSON.stringify(body)).toMatch(detail);
    }
    expect((await postJson(`${shire.url}/api/slugs/nobody/rotate`, {})).status).toBe(409);
    // While one rotation runs (its replica slow to start), a second gets 409 naming it.
    shire.sandbox.setFaults({ replicaStartMs: 3_000 });
    try {
      const first = await postJson(`${shire.url}/api/slugs/fussy/rotate`, { secrets: ["gateway-token"] });
      expect(first.status).toBe(202);
      const second = await postJson(`${shire.url}/api/slugs/fussy/rotate`, {});
      expect(second.status).toBe(409);
      expect(second.body).toMatchObject({
        error: { code: "OperationInProgress", details: { operationId: first.body.operationId, kind: "rotate" } },
      });
      const busyPut = await callApi(shire.url, "PUT", "slugs/fussy/secrets/telegram-bot-token", "123:new", {
        "content-type": "text/plain",
      });
      expect(busyPut.status).toBe(409);
      succeeded(await waitForOperation(shire.url, String(first.body.operationId)));
    } finally {
      shire.sandbox.setFaults({ replicaStartMs: 0 });
    }
    // The refused requests wrote nothing: the only writes are the rotation's own (the gateway token and the restart).
    const writes = shire.writesSince(mark).map((request) => `${request.method} ${request.url.split("?")[0]}`);
    expect(writes.filter((write) => /telegram-bot-token/.test(write))).toEqual([]);
  }, 180_000);

  it("revokes nothing when the restart fails; the next rotation carries on with what was staged and finishes", async () => {
    succeeded(await install(shire.url, "wobble"));
    const targets = await targetsOf("wobble");
    const before = secretValues(shire.sandbox, targets);
    shire.sandbox.setFaults({ failReplicaStarts: 1 });
    const failed = await rotate("wobble");
    expect(failed.status).toBe("failed");
    expect(failed.steps.find((step) => step.id === "restart")).toMatchObject({ status: "failed" });
    expect(failed.steps.find((step) => step.id === "restart")?.error).toMatch(/RestartFailed/);
    expect(
      failed.steps.filter((step) => step.id.startsWith("revoke:")).every((step) => step.status === "skipped"),
    ).toBe(true);
    const staged = secretValues(shire.sandbox, targets);
    // The sign-in's old password still works at Entra: nothing was revoked.
    const signIn = targets.secrets.find((secret) => secret.name === "entra-client-secret")!.secret as {
      applicationObjectId: string;
    };
    const appId = (shire.sandbox.inspect() as { graph: { id: string; appId?: string }[] }).graph.find(
      (object) => object.id === signIn.applicationObjectId,
    )!.appId!;
    expect(shire.sandbox.graph.authenticateClient(appId, before["entra-client-secret"]).ok).toBe(true);
    const slug = (await getJson<SlugRecord & { rotation: RotationRecord }>(`${shire.url}/api/slugs/wobble`)).body;
    expect(slug.state).toBe("installed");
    expect(slug.rotation.secrets.find((secret) => secret.name === "gateway-token")).toMatchObject({
      state: "staged",
      lastResult: { status: "failed", error: expect.stringMatching(/^restart: RestartFailed/) },
    });

    const retried = await rotate("wobble");
    succeeded(retried);
    // Carried on: the versions the failed rotation staged are the ones now in use.
    expect(secretValues(shire.sandbox, targets)).toEqual(staged);
    expect(
      await credentialProblems(shire.sandbox, shire.clients, targets, {
        before,
        rotated: rotatable(targets).map((secret) => secret.name),
      }),
    ).toEqual([]);
  }, 180_000);

  it("puts an operator's secret into the vault and nowhere else, and restarts the app onto it", async () => {
    const token = "4242424242:operator-supplied-telegram-token-e2e";
    await installWithTelegram("chat", "4242424242:operator-supplied-telegram-token-first");
    const targets = await targetsOf("chat");
    const appId = `/subscriptions/${shire.sandbox.env.subscriptionId}/resourceGroups/${targets.resourceGroup}/providers/Microsoft.App/containerApps/${targets.containerAppName}`;
    expect(
      (await callApi(shire.url, "PUT", "slugs/chat/secrets/gateway-token", "x", { "content-type": "text/plain" }))
        .status,
    ).toBe(404);
    expect(
      (await callApi(shire.url, "PUT", "slugs/chat/secrets/telegram-bot-token", "\n", { "content-type": "text/plain" }))
        .status,
    ).toBe(400);

    const put = await callApi(shire.url, "PUT", "slugs/chat/secrets/telegram-bot-token", `${token}\n`, {
      "content-type": "text/plain",
    });
    expect(put.status, JSON.stringify(put.json)).toBe(202);
    expect(put.json).toMatchObject({ secret: "telegram-bot-token", version: expect.stringMatching(/^[0-9a-f]{32}$/) });
    const operation = await waitForOperation(shire.url, String(put.json.operationId));
    succeeded(operation);
    expect(operation.steps.map((step) => step.id)).toEqual([
      "stage:telegram-bot-token",
      "restart",
      "revoke:telegram-bot-token",
      "retireVersions",
    ]);
    // In the vault, and the app runs it.
    expect(shire.sandbox.keyVault.readSecretValue(targets.vaultName, "telegram-bot-token")).toBe(token);
    expect(shire.sandbox.apps.accepts(appId, "telegram-bot-token", token)).toBe(true);
    // JSON works too.
    const again = await callApi(
      shire.url,
      "PUT",
      "slugs/chat/secrets/telegram-bot-token",
      JSON.stringify({ value: `${token}-2` }),
    );
    expect(again.status, JSON.stringify(again.json)).toBe(202);
    succeeded(await waitForOperation(shire.url, String(again.json.operationId)));
    expect(shire.sandbox.apps.accepts(appId, "telegram-bot-token", `${token}-2`)).toBe(true);

    // Nowhere else: responses, records, custom status, durable state, host log, request log.
    const seen: string[] = [
      JSON.stringify(put.json),
      JSON.stringify(again.json),
      JSON.stringify((await getJson(`${shire.url}/api/operations/${String(put.json.operationId)}`)).body),
      JSON.stringify((await getJson(`${shire.url}/api/operations?slug=chat`)).body),
      JSON.stringify((await getJson(`${shire.url}/api/slugs/chat`)).body),
      JSON.stringify(
        (
          await getJson(
            `${shire.url}/runtime/webhooks/durabletask/instances/slug-chat?showHistory=true&showHistoryOutput=true&showInput=true`,
          )
        ).body,
      ),
      shire.logs.join("\n"),
      fs.readFileSync(shire.logFile, "utf8"),
    ];
    for (const text of seen) expect(text).not.toContain("operator-supplied-telegram-token");
    expect(filesContaining(shire.hostStateDir, "operator-supplied-telegram-token")).toEqual([]);
    // The records do show what happened: which secret, which version, who.
    expect(seen[2]).toContain(String(put.json.version));
  }, 180_000);
});
