/**
 * Load a Functions app the way the Node worker does: read `main` from the app's package.json
 * (one file or a glob), require each matching file once, and return what they registered.
 */
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { installCoreApi, type CoreApiRecorder } from "./core-api";
import { HostStartError } from "../start-error";

export interface LoadedApp {
  appRoot: string;
  hostJson: HostJson;
  recorder: CoreApiRecorder;
  entryFiles: string[];
}

/** The parts of host.json the local host honours. */
export interface HostJson {
  version?: string;
  extensions?: {
    durableTask?: {
      hubName?: string;
      maxConcurrentActivityFunctions?: number;
      maxConcurrentOrchestratorFunctions?: number;
    };
    queues?: {
      maxPollingInterval?: string;
      visibilityTimeout?: string;
      batchSize?: number;
      newBatchThreshold?: number;
      maxDequeueCount?: number;
      messageEncoding?: "base64" | "none";
    };
    http?: { routePrefix?: string };
  };
  [key: string]: unknown;
}

export function loadApp(appRoot: string): LoadedApp {
  const root = path.resolve(appRoot);
  const packageJson = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { main?: string };
  if (!packageJson.main)
    throw new HostStartError(`${root}/package.json has no "main": the worker would find no functions.`);
  const hostJsonPath = path.join(root, "host.json");
  const hostJson = fs.existsSync(hostJsonPath) ? (JSON.parse(fs.readFileSync(hostJsonPath, "utf8")) as HostJson) : {};

  const entryFiles = expandMain(root, packageJson.main);
  if (entryFiles.length === 0) throw new HostStartError(`"main" (${packageJson.main}) matches no file under ${root}.`);

  const recorder = installCoreApi();
  const requireFromApp = createRequire(path.join(root, "package.json"));
  for (const file of entryFiles) requireFromApp(file);
  if (!recorder.programmingModel) {
    throw new HostStartError("The app registered no functions (no programming model was set by @azure/functions).");
  }
  return { appRoot: root, hostJson, recorder, entryFiles };
}

/** `main` may be a file or a glob such as `dist/src/{index.js,functions/*.js}`. */
export function expandMain(root: string, main: string): string[] {
  const patterns = expandBraces(main);
  const files = new Set<string>();
  for (const pattern of patterns) {
    if (!/[*?]/.test(pattern)) {
      const file = path.join(root, pattern);
      if (fs.existsSync(file)) files.add(file);
      continue;
    }
    const matcher = globToRegExp(pattern);
    for (const candidate of walk(root, baseDirectoryOf(pattern))) {
      if (matcher.test(path.relative(root, candidate).split(path.sep).join("/"))) files.add(candidate);
    }
  }
  return [...files].sort();
}

function expandBraces(pattern: string): string[] {
  const match = /\{([^{}]*)\}/.exec(pattern);
  if (!match) return [pattern];
  return match[1]
    .split(",")
    .flatMap((option) =>
      expandBraces(pattern.slice(0, match.index) + option + pattern.slice(match.index + match[0].length)),
    );
}

function baseDirectoryOf(pattern: string): string {
  const parts = pattern.split("/");
  const fixed: string[] = [];
  for (const part of parts) {
    if (/[*?]/.test(part)) break;
    fixed.push(part);
  }
  return fixed.join("/");
}

function globToRegExp(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === "*" && pattern[i + 1] === "*") {
      source += ".*";
      i++;
      if (pattern[i + 1] === "/") i++;
    } else if (ch === "*") source += "[^/]*";
    else if (ch === "?") source += "[^/]";
    else source += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

function* walk(root: string, relativeDir: string): Generator<string> {
  const dir = path.join(root, relativeDir);
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules") continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(root, path.relative(root, full));
    else yield full;
  }
}
