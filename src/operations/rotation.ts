/**
 * What a slug can rotate, and the walk a rotation runs, built from what the slug's operations
 * applied (the secret nodes' desired states with their references resolved: the vault, the app
 * registrations' object ids, the storage account and its environment storage, the Foundry
 * account). Pure: the starter builds the walk, the orchestration only walks it.
 *
 *   stage:<secret> ...                  (new credential in the vault, tagged staged)
 *     -> restart                        (once, onto every staged version; seen healthy)
 *       -> revoke:<secret> ...          (the old credential revoked; the version marked done)
 *         -> retireVersions             (versions superseded longer than the grace period disabled)
 */
import type { WalkStep } from "../../orchestrations/plan-walker";
import type { EnvironmentStorageDesired, SecretDesired } from "../contract/resources";
import {
  ROTATION_ACTIVITIES,
  type RestartDesired,
  type RetireVersionsDesired,
  type RevokeDesired,
  type RotationKind,
  type RotationSecret,
} from "../contract/rotation";
import { SECRET_NAMES } from "../model/names";
import type { Problem } from "../model/validate";
import type { AppliedState } from "./records";

export interface SlugSecret {
  /** The secret's name in the vault (what the API calls it). */
  name: string;
  kind: RotationKind;
  title: string;
  secret: RotationSecret;
}

export interface RotationTargets {
  vaultName: string;
  /** The app that reads the secrets. */
  resourceGroup: string;
  containerAppName: string;
  secrets: SlugSecret[];
}

const TITLES: Record<string, string> = {
  [SECRET_NAMES.gatewayToken]: "Gateway token",
  [SECRET_NAMES.entraClientSecret]: "Sign-in client secret",
  [SECRET_NAMES.teamsAppPassword]: "Teams bot password",
  [SECRET_NAMES.storageAccountKey]: "Storage account key",
  [SECRET_NAMES.foundryApiKey]: "Foundry key",
  [SECRET_NAMES.telegramBotToken]: "Telegram bot token",
  [SECRET_NAMES.telegramWebhookSecret]: "Telegram webhook secret",
};

/** The slug's secrets as its operations applied them, or undefined when the app or vault never got that far. */
export function rotationTargets(applied: AppliedState | undefined): RotationTargets | undefined {
  const nodes = Object.values(applied?.nodes ?? {});
  const app = nodes.find((node) => node.kind === "containerApp")?.desired as
    { resourceGroup?: string; name?: string } | undefined;
  const environmentStorage = nodes.find((node) => node.kind === "environmentStorage")?.desired as
    EnvironmentStorageDesired | undefined;
  const secretNodes = nodes.filter((node) => node.kind === "secret").map((node) => node.desired as SecretDesired);
  if (!app?.resourceGroup || !app.name || secretNodes.length === 0) return undefined;
  const secrets: SlugSecret[] = [];
  for (const desired of secretNodes) {
    const base = { vaultName: desired.vaultName, secretName: desired.secretName };
    const source = desired.source;
    let secret: RotationSecret | undefined;
    switch (source.type) {
      case "random":
        secret = { ...base, kind: "generated", bytes: source.bytes };
        break;
      case "entraClientSecret":
        secret = {
          ...base,
          kind: "clientSecret",
          applicationObjectId: source.applicationObjectId,
          displayName: source.displayName,
          validityDays: source.validityDays,
        };
        break;
      case "storageAccountKey":
        if (environmentStorage)
          secret = {
            ...base,
            kind: "storageKey",
            resourceGroup: source.resourceGroup,
            accountName: source.accountName,
            environmentStorage,
          };
        break;
      case "cognitiveServicesKey":
        secret = { ...base, kind: "foundryKey", accountResourceId: source.accountResourceId };
        break;
      case "external":
        secret = { ...base, kind: "supplied" };
        break;
    }
    if (secret)
      secrets.push({
        name: desired.secretName,
        kind: secret.kind,
        title: TITLES[desired.secretName] ?? desired.secretName,
        secret,
      });
  }
  secrets.sort((a, b) => a.name.localeCompare(b.name));
  return {
    vaultName: secretNodes[0].vaultName,
    resourceGroup: app.resourceGroup,
    containerAppName: app.name,
    secrets,
  };
}

/** Secrets Shire rotates itself (everything but what the operator supplies). */
export function rotatable(targets: RotationTargets): SlugSecret[] {
  return targets.secrets.filter((secret) => secret.kind !== "supplied");
}

const MAX_ROTATE_NAMES = 50;

/**
 * `{"secrets"?: [names]}`: every rotatable secret when absent; `[]` rotates nothing and only
 * disables old versions past their grace period. Every problem at once; unknown fields refused.
 */
export function validateRotateRequest(
  body: unknown,
  targets: RotationTargets,
): { ok: true; secrets: SlugSecret[] } | { ok: false; problems: Problem[] } {
  const problems: Problem[] = [];
  const record = body === undefined || body === null ? {} : body;
  if (typeof record !== "object" || Array.isArray(record))
    return { ok: false, problems: [{ path: "", message: 'the body must be {} or {"secrets": ["<name>", ...]}.' }] };
  for (const key of Object.keys(record))
    if (key !== "secrets") problems.push({ path: key, message: "is not a known field." });
  const asked = (record as { secrets?: unknown }).secrets;
  if (asked === undefined)
    return problems.length > 0 ? { ok: false, problems } : { ok: true, secrets: rotatable(targets) };
  if (!Array.isArray(asked)) {
    problems.push({ path: "secrets", message: "must be a list of secret names." });
    return { ok: false, problems };
  }
  // A slug has a handful of secrets: a longer list is a mistake, and not worth a quadratic check.
  if (asked.length > MAX_ROTATE_NAMES) {
    problems.push({ path: "secrets", message: `lists at most ${MAX_ROTATE_NAMES} names, not ${asked.length}.` });
    return { ok: false, problems };
  }
  const chosen: SlugSecret[] = [];
  const names = rotatable(targets).map((secret) => secret.name);
  asked.forEach((name, index) => {
    const path = `secrets[${index}]`;
    if (typeof name !== "string") return problems.push({ path, message: "must be a secret name." });
    if (asked.indexOf(name) !== index) return problems.push({ path, message: `'${name}' is listed twice.` });
    const found = targets.secrets.find((secret) => secret.name === name);
    if (!found)
      return problems.push({
        path,
        message: `this slug has no secret '${name}'${name === SECRET_NAMES.teamsAppPassword ? " (a Teams bot on the slug's managed identity has no password)" : ""}; it can rotate: ${names.join(", ") || "nothing"}.`,
      });
    if (found.kind === "supplied")
      return problems.push({
        path,
        message: `'${name}' is supplied by the operator: write the new value with PUT /api/slugs/{slug}/secrets/${name}.`,
      });
    chosen.push(found);
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, secrets: chosen };
}

export const RETIRE_STEP = "retireVersions";
export const RESTART_STEP = "restart";

/** The walk of one rotation: `chosen` staged, the app restarted once, each revoked; old versions retired. */
export function rotationSteps(targets: RotationTargets, chosen: SlugSecret[], graceMs: number): WalkStep[] {
  const retire: RetireVersionsDesired = {
    vaultName: targets.vaultName,
    secretNames: targets.secrets.map((secret) => secret.name),
    graceMs,
  };
  // Last: what this rotation supersedes is then known, and when it may be disabled is recorded.
  const retireStep: WalkStep = {
    id: RETIRE_STEP,
    kind: "secret",
    verb: "ensure",
    activity: ROTATION_ACTIVITIES.retireVersions,
    title: `Disable secret versions superseded for more than ${Math.round(graceMs / 1000)} s`,
    dependsOn: chosen.map((secret) => `revoke:${secret.name}`),
    desired: retire,
  };
  const steps: WalkStep[] = [];
  if (chosen.length === 0) return [retireStep];
  for (const secret of chosen)
    steps.push({
      id: `stage:${secret.name}`,
      kind: "secret",
      verb: "ensure",
      activity: ROTATION_ACTIVITIES.stage,
      title: `${secret.title}: ${STAGE_TITLES[secret.kind]}`,
      dependsOn: [],
      desired: secret.secret,
    });
  const restart: RestartDesired = {
    resourceGroup: targets.resourceGroup,
    containerAppName: targets.containerAppName,
    vaultName: targets.vaultName,
    secretNames: chosen.map((secret) => secret.name),
  };
  steps.push({
    id: RESTART_STEP,
    kind: "containerApp",
    verb: "ensure",
    activity: ROTATION_ACTIVITIES.restart,
    title: `Restart ${targets.containerAppName} onto the new versions and see it healthy`,
    dependsOn: chosen.map((secret) => `stage:${secret.name}`),
    desired: restart,
  });
  for (const secret of chosen) {
    const revoke: RevokeDesired = {
      secret: secret.secret,
      resourceGroup: targets.resourceGroup,
      containerAppName: targets.containerAppName,
    };
    steps.push({
      id: `revoke:${secret.name}`,
      kind: "secret",
      verb: "ensure",
      activity: ROTATION_ACTIVITIES.revoke,
      title: `${secret.title}: ${REVOKE_TITLES[secret.kind]}`,
      dependsOn: [RESTART_STEP],
      desired: revoke,
    });
  }
  return [...steps, retireStep];
}

const STAGE_TITLES: Record<RotationKind, string> = {
  generated: "new value in the vault",
  clientSecret: "addPassword, new version in the vault",
  storageKey: "environment storage and vault copy moved to the other key",
  foundryKey: "vault moved to the other key",
  supplied: "the operator's new version",
};

const REVOKE_TITLES: Record<RotationKind, string> = {
  generated: "the old value accepted nowhere (the app runs the new one)",
  clientSecret: "removePassword of the replaced password(s)",
  storageKey: "regenerate the key it moved away from",
  foundryKey: "regenerate the key it moved away from",
  supplied: "the app runs the new version",
};
