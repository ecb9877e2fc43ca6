/**
 * The rotation's phases, for real against the sandbox through the SDK clients, on a whole slug
 * (Teams, Telegram in webhook mode, a Foundry account): after a rotation every kind's new
 * credential is in use and the old one refused; every phase run twice writes nothing new; a phase
 * whose k-th write lost its answer, run again, ends as a clean run; a rotation stopped between any
 * two phases, then carried on (the same operation, as a resumed orchestration) or run again (a new
 * operation, as after a failure), ends with exactly one working credential of each kind in use;
 * a restart that fails revokes nothing.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { runActivity } from "../../activities/define";
import { createActivityDeps } from "../../activities/deps";
import { rotationActivities, type RotationPhase } from "../../activities/rotation/phases";
import type { ActivityFailure, ActivityResult } from "../../src/contract/activity";
import { rotatable, rotationSteps, rotationTargets, type RotationTargets } from "../../src/operations/rotation";
import type { WalkStep } from "../../orchestrations/plan-walker";
import { ROTATION_ACTIVITIES } from "../../src/contract/rotation";
import { useSandbox } from "../fixtures/sandbox";
import { activityRunner } from "../fixtures/activities";
import { convergeAgain, convergeSlug, type Footprint } from "../fixtures/slug-footprint";
import { credentialProblems, secretValues } from "../fixtures/rotation";
import { sleep } from "../fixtures/wait";
import { keyVaultUrl } from "../../src/azure/endpoints";

const azure = useSandbox();
/** Only its `loseAnswerOfWrite` is used: the phases are not a resource kind's activities. */
const writeFaults = activityRunner(azure, { operationId: "lost", slug: "rot", maxAttempts: 10 });
let targets: RotationTargets;
let footprint: Footprint;

/** Real waits: the restart waits out Key Vault's second (the fixture's deps cut sleeps to 20 ms). */
const deps = () => createActivityDeps(azure.sandbox.context());

beforeAll(async () => {
  await azure.clients.resources.resourceGroups.createOrUpdate("rg-foundry", { location: "westeurope" });
  const account = await azure.clients.cognitiveServices.accounts.beginCreateAndWait("rg-foundry", "ai-rotation", {
    location: "westeurope",
    kind: "AIServices",
    sku: { name: "S0" },
    properties: { customSubDomainName: "ai-rotation-test" },
  });
  footprint = await convergeSlug(
    azure,
    "rot",
    {
      // A bot on its own app registration (Teams slugs installed before bot identities): its password
      // is a kind to rotate. A managed-identity bot has none (test/model/bot-identity.test.ts).
      channels: {
        teams: { enabled: true, botIdentity: "appRegistration" },
        telegram: { enabled: true, mode: "webhook" },
      },
      foundry: {
        endpoint: "https://ai-rotation-test.openai.azure.com/",
        deployment: "gpt-4o",
        accountResourceId: account.id,
      },
    },
    { "telegram-bot-token": "123:operator-token" },
  );
  targets = rotationTargets(footprint.applied)!;
}, 180_000);

const PHASE_OF: Record<string, RotationPhase> = Object.fromEntries(
  Object.entries(ROTATION_ACTIVITIES).map(([phase, activity]) => [activity, phase as RotationPhase]),
);

/** The walk's steps in an order the walker could run them one at a time (stages, restart, revokes, retire). */
function orderedSteps(): WalkStep[] {
  return rotationSteps(targets, rotatable(targets), 3_600_000);
}

async function runStep(step: WalkStep, operationId: string): Promise<ActivityResult | ActivityFailure> {
  const handler = rotationActivities(deps())[PHASE_OF[step.activity!]];
  return runActivity(handler, { operationId, slug: "rot", nodeId: step.id, desired: step.desired as never });
}

/** Run a step as its step instance would: retry what is retryable. */
async function mustStep(step: WalkStep, operationId: string): Promise<ActivityResult> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await runStep(step, operationId);
    if (!("failed" in outcome)) return outcome;
    if (!outcome.retryable || attempt >= 15) throw new Error(`${step.id}: ${outcome.code}: ${outcome.message}`);
    await sleep(200);
  }
}

async function rotateAll(operationId: string, from = 0): Promise<void> {
  for (const step of orderedSteps().slice(from)) await mustStep(step, operationId);
}

async function expectCredentialsInUse(
  before?: Record<string, string | undefined>,
  rotated?: string[],
  when?: string,
): Promise<void> {
  expect(await credentialProblems(azure.sandbox, azure.clients, targets, { before, rotated }), when).toEqual([]);
}

describe("rotation phases", () => {
  it("knows the slug's secrets: six Shire rotates itself, one the operator supplies", () => {
    expect(targets.secrets.map((secret) => [secret.name, secret.kind])).toEqual([
      ["entra-client-secret", "clientSecret"],
      ["foundry-api-key", "foundryKey"],
      ["gateway-token", "generated"],
      ["storage-account-key", "storageKey"],
      ["teams-app-password", "clientSecret"],
      ["telegram-bot-token", "supplied"],
      ["telegram-webhook-secret", "generated"],
    ]);
    expect(orderedSteps().map((step) => step.id)).toEqual([
      ...rotatable(targets).map((secret) => `stage:${secret.name}`),
      "restart",
      ...rotatable(targets).map((secret) => `revoke:${secret.name}`),
      "retireVersions",
    ]);
  });

  it("rotates every kind: the new credential is in use, the old one refused; twice alternates the account keys back", async () => {
    await expectCredentialsInUse();
    const names = rotatable(targets).map((secret) => secret.name);
    for (const round of ["first", "second"]) {
      const before = secretValues(azure.sandbox, targets);
      await rotateAll(`rotate-${round}`);
      await expectCredentialsInUse(before, names);
    }
  }, 120_000);

  it("is kept by an install after it: every secret converges unchanged, and a rewritten environment storage takes the key the vault copy holds", async () => {
    const before = secretValues(azure.sandbox, targets);
    await rotateAll("before-install-1");
    // The storage on key2, where an install that knew only key1 would move it back.
    const vault = azure.clients.secrets(keyVaultUrl(azure.sandbox.endpoints, targets.vaultName));
    if ((await vault.getSecret("storage-account-key")).properties.tags?.source?.endsWith("/key1"))
      await rotateAll("before-install-2");
    expect((await vault.getSecret("storage-account-key")).properties.tags?.source).toMatch(/\/key2$/);
    const rotated = secretValues(azure.sandbox, targets);
    const results = await convergeAgain(azure, footprint);
    for (const [id, result] of Object.entries(results))
      if (id.startsWith("secret:")) expect(result.action, id).toBe("unchanged");
    expect(secretValues(azure.sandbox, targets)).toEqual(rotated);
    await expectCredentialsInUse(
      before,
      rotatable(targets).map((secret) => secret.name),
    );
    // Drift on the environment storage (its access mode changed outside Shire): the install writes
    // it again, with the key the vault copy holds, not key1.
    const storage = footprint.applied.nodes.environmentStorage.desired as {
      resourceGroup: string;
      environmentName: string;
      name: string;
    };
    const storageId = `/subscriptions/${azure.sandbox.env.subscriptionId}/resourceGroups/${storage.resourceGroup}/providers/Microsoft.App/managedEnvironments/${storage.environmentName}/storages/${storage.name}`;
    const stored = azure.sandbox.arm.store.get(storageId)!;
    (stored.resource.properties as { azureFile: { accessMode: string } }).azureFile.accessMode = "ReadOnly";
    stored.hidden.accountKey = "drifted";
    const again = await convergeAgain(azure, footprint);
    expect(again.environmentStorage.action).toBe("updated");
    expect(azure.sandbox.arm.store.get(storageId)!.hidden.accountKey).toBe(rotated["storage-account-key"]);
  }, 120_000);

  it("sees a rotation that was not finished: staged without a restart, every old credential still in use", async () => {
    const before = secretValues(azure.sandbox, targets);
    const steps = orderedSteps();
    for (const step of steps.filter((candidate) => candidate.id.startsWith("stage:"))) await mustStep(step, "half");
    const problems = await credentialProblems(azure.sandbox, azure.clients, targets, {
      before,
      rotated: rotatable(targets).map((secret) => secret.name),
    });
    for (const expected of [
      /replica .* holds gateway-token version .*, not the latest/,
      /gateway-token: the app does not hold the vault's value/,
      /entra-client-secret: the app registration has passwords \[.*,.*\]/,
      /entra-client-secret: the replaced password still works/,
      /storage-account-key: the replaced key still works/,
      /foundry-api-key: the replaced key still works/,
      /gateway-token: latest version is staged, not done/,
    ])
      expect(
        problems.some((problem) => expected.test(problem)),
        `${expected}: ${JSON.stringify(problems)}`,
      ).toBe(true);
    await rotateAll("half");
    await expectCredentialsInUse(
      before,
      rotatable(targets).map((secret) => secret.name),
    );
  }, 120_000);

  it("runs each phase twice: the second run carries on with what the first did and writes nothing", async () => {
    const before = secretValues(azure.sandbox, targets);
    for (const step of orderedSteps()) {
      await mustStep(step, "twice");
      const mark = azure.mark();
      const again = await mustStep(step, "twice");
      expect(again.action, step.id).toBe("unchanged");
      // ARM never shows an environment storage's key: the storage stage writes it each time (the same key).
      const writes = azure.writesSince(mark).map((request) => `${request.method} ${request.url.split("?")[0]}`);
      expect(writes, step.id).toEqual(
        step.id === "stage:storage-account-key" ? [expect.stringMatching(/^PUT .*\/storages\/openclaw-state$/)] : [],
      );
    }
    await expectCredentialsInUse(
      before,
      rotatable(targets).map((secret) => secret.name),
    );
  }, 120_000);

  it("ends as a clean run when the answer to any write of any phase is lost, and the phase runs again (each kind)", async () => {
    // One secret of each kind, rotated on its own: its walk is stage, restart, revoke.
    for (const kind of ["generated", "clientSecret", "storageKey", "foundryKey"] as const) {
      const secret = targets.secrets.find((candidate) => candidate.kind === kind)!;
      const steps = rotationSteps(targets, [secret], 3_600_000).filter((step) => step.id !== "retireVersions");
      // How many writes each phase makes in a clean rotation.
      const writes: number[] = [];
      for (const step of steps) {
        const mark = azure.mark();
        await mustStep(step, `clean-${kind}`);
        writes.push(azure.successfulWritesSince(mark));
      }
      for (const [index, step] of steps.entries()) {
        expect(writes[index], `${step.id} writes`).toBeGreaterThan(0);
        for (let lost = 1; lost <= writes[index]; lost++) {
          const operationId = `lost-${step.id}-${lost}`;
          const before = secretValues(azure.sandbox, targets);
          for (const earlier of steps.slice(0, index)) await mustStep(earlier, operationId);
          // Retried as the walker would until a write lost its answer (a dropped connection can fail an attempt first).
          const lostAnswers = await writeFaults.loseAnswerOfWrite(lost, () => runStep(step, operationId));
          expect(lostAnswers.length, `${step.id}: write ${lost} of ${writes[index]} lost its answer`).toBe(1);
          for (const rest of steps.slice(index)) await mustStep(rest, operationId);
          await expectCredentialsInUse(before, [secret.name], `${step.id}, answer to write ${lost} lost`);
        }
      }
    }
  }, 300_000);

  it("stopped between any two phases, then carried on or run again as a new operation: one working credential of each kind, none lost", async () => {
    const steps = orderedSteps();
    const names = rotatable(targets).map((secret) => secret.name);
    for (let stop = 1; stop < steps.length; stop++) {
      const after = steps[stop - 1].id;
      // Carried on: the orchestration resumed after a crash (the same operation, from the next phase).
      let before = secretValues(azure.sandbox, targets);
      for (const step of steps.slice(0, stop)) await mustStep(step, `crashed-${stop}`);
      await rotateAll(`crashed-${stop}`, stop);
      await expectCredentialsInUse(before, names, `resumed after ${after}`);

      // Run again: the operation failed there and a new one starts from the beginning. It carries
      // on with each version the failed one staged and did not finish (never a second new
      // credential for it); what the failed one finished is rotated again, as asked.
      before = secretValues(azure.sandbox, targets);
      for (const step of steps.slice(0, stop)) await mustStep(step, `failed-${stop}`);
      const ran = steps.slice(0, stop).map((step) => step.id);
      const staged = await latestVersions(
        names.filter((name) => ran.includes(`stage:${name}`) && !ran.includes(`revoke:${name}`)),
      );
      await rotateAll(`retried-${stop}`);
      await expectCredentialsInUse(before, names, `run again after ${after}`);
      expect(await latestVersions(Object.keys(staged)), `stopped after ${after}`).toEqual(staged);
    }
  }, 900_000);

  it("disables versions superseded for longer than the grace period, never the latest; twice writes nothing; a lost answer ends the same", async () => {
    await rotateAll("before-retire");
    const names = targets.secrets.map((secret) => secret.name);
    const retire = {
      ...orderedSteps().find((step) => step.id === "retireVersions")!,
      desired: { vaultName: targets.vaultName, secretNames: names, graceMs: 1_000 },
    };
    const vault = azure.clients.secrets(keyVaultUrl(azure.sandbox.endpoints, targets.vaultName));
    const versions = async () => {
      const all: { name: string; version: string; enabled: boolean; createdOn: number }[] = [];
      for (const name of names)
        for await (const version of vault.listPropertiesOfSecretVersions(name))
          all.push({
            name,
            version: version.version!,
            enabled: version.enabled !== false,
            createdOn: version.createdOn!.getTime(),
          });
      return all;
    };
    // Superseded seconds ago (Key Vault's times are whole seconds): past a 1 s grace.
    await sleep(2_100);
    const before = await versions();
    const latest = new Map<string, string>();
    for (const name of names) latest.set(name, (await vault.getSecret(name)).properties.version!);
    const superseded = before.filter((version) => version.enabled && version.version !== latest.get(version.name));
    expect(superseded.length).toBeGreaterThan(1);
    // The first disable's answer is lost; the retry finishes the rest and ends where a clean run would.
    const lost = await writeFaults.loseAnswerOfWrite(1, () => runStep(retire, "retire"));
    expect(lost).toHaveLength(1);
    await mustStep(retire, "retire");
    const after = await versions();
    for (const version of after)
      expect(version.enabled, `${version.name}/${version.version}`).toBe(version.version === latest.get(version.name));
    const mark = azure.mark();
    expect((await mustStep(retire, "retire")).action).toBe("unchanged");
    expect(azure.writesSince(mark)).toEqual([]);
    // The app still starts: a restart resolves every reference to an enabled latest version.
    await expectCredentialsInUse();
  }, 120_000);

  it("revokes nothing when the restart fails: the previous credentials keep working, and running it again finishes", async () => {
    const before = secretValues(azure.sandbox, targets);
    const steps = orderedSteps();
    const restartAt = steps.findIndex((step) => step.id === "restart");
    for (const step of steps.slice(0, restartAt)) await mustStep(step, "restart-fails");
    azure.sandbox.setFaults({ failReplicaStarts: 1 });
    const failed = await runStep(steps[restartAt], "restart-fails");
    expect(failed).toMatchObject({ failed: true, code: "RestartFailed" });
    // The revoke phase refuses to run on an app that does not run the new versions.
    const refused = await runStep(steps[restartAt + 1], "restart-fails");
    expect(refused).toMatchObject({ failed: true, code: "NotInUseYet" });
    // Both credentials of each kind still work at the services: nothing was revoked.
    for (const secret of targets.secrets.filter((candidate) => candidate.secret.kind === "clientSecret")) {
      const appId = appIdOfObject((secret.secret as { applicationObjectId: string }).applicationObjectId);
      expect(azure.sandbox.graph.authenticateClient(appId, before[secret.name]).ok, secret.name).toBe(true);
    }
    const storage = targets.secrets.find((secret) => secret.kind === "storageKey")!;
    const keys = azure.sandbox.arm.store.findStorageAccount((storage.secret as { accountName: string }).accountName)!
      .hidden.keys as Record<string, string>;
    expect([keys.key1, keys.key2]).toContain(before[storage.name]);
    // A new rotation carries on with what was staged and finishes.
    await rotateAll("after-restart-failed");
    await expectCredentialsInUse(
      before,
      rotatable(targets).map((secret) => secret.name),
    );
  }, 120_000);
});

async function latestVersions(names: string[]): Promise<Record<string, string>> {
  const vault = azure.clients.secrets(keyVaultUrl(azure.sandbox.endpoints, targets.vaultName));
  const versions: Record<string, string> = {};
  for (const name of names) versions[name] = (await vault.getSecret(name)).properties.version!;
  return versions;
}

function appIdOfObject(objectId: string): string {
  const graph = (azure.sandbox.inspect() as { graph: { id: string; appId?: string }[] }).graph;
  return graph.find((object) => object.id === objectId)!.appId!;
}
