#!/usr/bin/env node
/**
 * `node dist/src/sandbox/cli.js secret set --vault <name> --name <secret> [--file <path>]
 *   [--content-type <type>] [--state-dir .shire]` (or `npm run sandbox -- secret set ...`)
 *
 * Puts an operator secret (a Telegram bot token, a Foundry key) into a vault of the running
 * sandbox, as an operator does on Azure with `az keyvault secret set`. The value comes from
 * `--file` or standard input, never from an argument (arguments end up in shell history and
 * process lists), and is never printed. Trailing line breaks are dropped (a file written by an
 * editor or `echo` ends with one; a token does not).
 *
 * The sandbox is found through its state directory (`endpoint.json`: port and CA; `--state-dir`
 * is the directory given to `npm start`, default `.shire`, or the sandbox's own), and written to
 * with the official SecretClient as the broker, the way the app writes: the broker holds Key
 * Vault Secrets Officer on every slug vault once the install's role step has run.
 */
import fs from "node:fs";
import path from "node:path";
import { AzureClients } from "../azure/clients";
import { keyVaultUrl } from "../azure/endpoints";
import { sandboxContextFromStateDir } from "./state-dir";

const USAGE = `usage: cli.js secret set --vault <name> --name <secret> [--file <path>] [--content-type <type>] [--state-dir .shire]
  The value is read from --file, or else from standard input; it is never an argument.`;

class UsageError extends Error {}

interface SetOptions {
  vault?: string;
  name?: string;
  file?: string;
  contentType?: string;
  stateDir: string;
}

function parse(argv: string[]): SetOptions {
  const options: SetOptions = { stateDir: ".shire" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${arg} needs a value`);
      return next;
    };
    if (arg === "--vault") options.vault = value();
    else if (arg === "--name") options.name = value();
    else if (arg === "--file") options.file = value();
    else if (arg === "--content-type") options.contentType = value();
    else if (arg === "--state-dir") options.stateDir = value();
    else if (arg === "--value")
      throw new UsageError(
        "--value is not taken: a secret in an argument stays in shell history and process lists. Use --file <path>, or pipe it in.",
      );
    else throw new UsageError(`unknown option ${arg}`);
  }
  if (!options.vault || !options.name) throw new UsageError("--vault and --name are required");
  return options;
}

async function readValue(file: string | undefined): Promise<string> {
  let text: string;
  if (file) text = fs.readFileSync(path.resolve(file), "utf8");
  else {
    if (process.stdin.isTTY) process.stderr.write("Secret value (end with Ctrl-D): ");
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    text = Buffer.concat(chunks).toString("utf8");
  }
  const value = text.replace(/[\r\n]+$/, "");
  if (!value) throw new UsageError(`the value is empty (${file ? `file ${file}` : "standard input"})`);
  return value;
}

async function setSecret(options: SetOptions): Promise<void> {
  // Find the sandbox first: no point asking for the value when there is nowhere to put it.
  const context = sandboxContextFromStateDir(options.stateDir);
  const value = await readValue(options.file);
  const client = new AzureClients(context).secrets(keyVaultUrl(context.endpoints, options.vault!));
  const secret = await client.setSecret(options.name!, value, {
    ...(options.contentType ? { contentType: options.contentType } : {}),
  });
  console.log(`Set ${secret.name} in vault ${options.vault} (version ${secret.properties.version}).`);
}

/** What went wrong, without anything the request carried. */
function describe(error: unknown): string {
  const failure = error as { code?: string; statusCode?: number; message?: string };
  if (failure.code === "ECONNREFUSED")
    return "the sandbox does not answer (is `npm start` running with this state directory?)";
  const code = failure.code && failure.statusCode ? ` (${failure.statusCode} ${failure.code})` : "";
  return `${failure.message ?? String(error)}${code}`;
}

async function main(): Promise<number> {
  const [group, command, ...rest] = process.argv.slice(2);
  if (group !== "secret" || command !== "set") {
    console.error(USAGE);
    return 2;
  }
  try {
    await setSecret(parse(rest));
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${error.message}\n${USAGE}`);
      return 2;
    }
    console.error(`Could not set the secret: ${describe(error)}`);
    return 1;
  }
}

void main().then((code) => process.exit(code));
