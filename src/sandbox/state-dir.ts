/**
 * What the sandbox keeps in its state directory besides the emulated services' state: its keys
 * (`keys.json`: the CA and TLS certificate, the token endpoint's signing key), made on the first
 * start and kept, so clients that trust the CA file and tokens signed before a restart stay good;
 * and where a running sandbox listens (`endpoint.json`: port and CA file), for the next start (it
 * takes the same port again when it is free, as Azure's endpoints never move) and for tools such
 * as `src/sandbox/cli.ts`.
 */
import fs from "node:fs";
import path from "node:path";
import { azureContextFromEnv, type AzureContext } from "../azure/credential";
import { createTokenKeys, type TokenKeys } from "./auth";
import { writeFileAtomic } from "./persistence";
import { createSandboxTls, tlsStillGood, type SandboxTls } from "./tls";

export const KEYS_FILE = "keys.json";
export const ENDPOINT_FILE = "endpoint.json";
export const CA_FILE = "sandbox-ca.pem";

export interface SandboxKeys {
  tls: SandboxTls;
  tokenKeys: TokenKeys;
}

interface KeysFile {
  tls?: Partial<SandboxTls>;
  tokenSigning?: { kid: string; privateKeyPem: string };
}

/** The kept keys, or new ones (written at once) where there are none or the certificates run out. */
export function loadOrCreateKeys(stateDir: string): SandboxKeys {
  const file = path.join(stateDir, KEYS_FILE);
  let kept: KeysFile = {};
  try {
    kept = JSON.parse(fs.readFileSync(file, "utf8")) as KeysFile;
  } catch {
    // No keys yet (or unreadable ones, replaced below; the file is written atomically).
  }
  const tls = tlsStillGood(kept.tls) ? kept.tls : createSandboxTls();
  let tokenKeys: TokenKeys | undefined;
  if (kept.tokenSigning) {
    try {
      tokenKeys = createTokenKeys(kept.tokenSigning);
    } catch {
      tokenKeys = undefined;
    }
  }
  tokenKeys ??= createTokenKeys();
  const tokenSigning = {
    kid: tokenKeys.kid,
    privateKeyPem: tokenKeys.privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
  };
  if (tls !== kept.tls || JSON.stringify(tokenSigning) !== JSON.stringify(kept.tokenSigning))
    writeFileAtomic(file, `${JSON.stringify({ tls, tokenSigning } satisfies KeysFile, null, 2)}\n`);
  return { tls, tokenKeys };
}

/** Where a sandbox listens: written at every start. */
export interface SandboxEndpointFile {
  port: number;
  /** The CA clients must trust (absolute path). */
  caFile: string;
  managementUrl: string;
  pid: number;
  startedAt: string;
}

export function readEndpointFile(stateDir: string): SandboxEndpointFile | undefined {
  try {
    const endpoint = JSON.parse(fs.readFileSync(path.join(stateDir, ENDPOINT_FILE), "utf8")) as SandboxEndpointFile;
    return Number.isInteger(endpoint.port) && endpoint.port > 0 ? endpoint : undefined;
  } catch {
    return undefined;
  }
}

export function writeEndpointFile(stateDir: string, endpoint: SandboxEndpointFile): void {
  writeFileAtomic(path.join(stateDir, ENDPOINT_FILE), `${JSON.stringify(endpoint, null, 2)}\n`, 0o644);
}

/**
 * How to reach the sandbox that serves a state directory: its `endpoint.json` (port, CA), as the
 * app's clients reach it (`SandboxCredential`, the broker). `dir` is the sandbox's state
 * directory, or the one given to `npm start` (`--state-dir`, default `.shire`), which holds it
 * as `sandbox/`.
 */
export function sandboxContextFromStateDir(dir: string): AzureContext {
  const candidates = [dir, path.join(dir, "sandbox")];
  const found = candidates.map((candidate) => ({ candidate, endpoint: readEndpointFile(candidate) }));
  const hit = found.find((entry) => entry.endpoint);
  if (!hit?.endpoint)
    throw new Error(
      `No sandbox found in ${path.resolve(dir)}: neither ${candidates.map((candidate) => path.join(candidate, ENDPOINT_FILE)).join(" nor ")} exists. Start one with \`npm start\` (state directory .shire) or name its state directory with --state-dir.`,
    );
  return azureContextFromEnv({
    SHIRE_CLOUD: "Sandbox",
    SHIRE_SANDBOX_PORT: String(hit.endpoint.port),
    SHIRE_SANDBOX_CA_FILE: hit.endpoint.caFile,
  });
}
