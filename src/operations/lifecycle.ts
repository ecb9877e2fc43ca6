/**
 * The slug state machine: the states a slug can be in, which operations each state accepts, what
 * an operation moves the slug to while it runs, and where each outcome leaves it. The one place
 * these rules live: the API's gate, the result recorder and the docs read them from here.
 *
 *   (new) --install--> installing --> installed | failed
 *   installed | failed --teardown--> retiring --> retired (until destroyAt) --> destroying --> destroyed
 *   retired --teardown/cancel--> installed (restored)
 *   destroyed --install--> installing ...
 */
export const SLUG_STATES = [
  "installing",
  "installed",
  "failed",
  "upgrading",
  "rotating",
  "repairing",
  "retiring",
  "retired",
  "destroying",
  "destroyed",
] as const;

export type SlugState = (typeof SLUG_STATES)[number];

export type OperationKind = "install" | "upgrade" | "rotate" | "repair" | "teardown";
export type OperationOutcome = "succeeded" | "failed" | "canceled";

export interface OperationRule {
  /** States the operation may start from; "new" is a slug Shire has no record of. */
  accepts: readonly (SlugState | "new")[];
  /** The state while it runs. */
  running: SlugState;
  /** Where each outcome leaves the slug. */
  settles: Record<OperationOutcome, SlugState>;
  /** What an operator in another state should do, for the 409. */
  hint: string;
}

export const OPERATION_RULES: Record<OperationKind, OperationRule> = {
  install: {
    accepts: ["new", "installed", "failed", "destroyed"],
    running: "installing",
    // A canceled install left part of the footprint: a failed one, to install again or tear down.
    settles: { succeeded: "installed", failed: "failed", canceled: "failed" },
    hint: "A retired slug is restored with POST /api/slugs/{slug}/teardown/cancel; install again once it is installed or destroyed.",
  },
  upgrade: {
    accepts: ["installed"],
    running: "upgrading",
    settles: { succeeded: "installed", failed: "failed", canceled: "failed" },
    hint: "Only an installed slug is upgraded.",
  },
  rotate: {
    accepts: ["installed"],
    running: "rotating",
    settles: { succeeded: "installed", failed: "installed", canceled: "installed" },
    hint: "Only an installed slug has secrets to rotate.",
  },
  repair: {
    accepts: ["installed"],
    running: "repairing",
    settles: { succeeded: "installed", failed: "failed", canceled: "failed" },
    hint: "Only an installed slug is repaired (a failed one: install it again).",
  },
  teardown: {
    accepts: ["installed", "failed"],
    running: "retiring",
    // Canceled during its grace period: restored.
    settles: { succeeded: "destroyed", failed: "failed", canceled: "installed" },
    hint: "Tear down an installed or failed slug; a retired one is destroyed when its grace period ends (or at once: teardown with purge).",
  },
};

/** Why `kind` may not start on a slug in `state`, or undefined when it may. */
export function refusal(kind: OperationKind, state: SlugState | "new"): string | undefined {
  const rule = OPERATION_RULES[kind];
  if (rule.accepts.includes(state)) return undefined;
  return `A ${kind} cannot start on a slug that is ${state === "new" ? "unknown to Shire" : state}. ${rule.hint}`;
}
