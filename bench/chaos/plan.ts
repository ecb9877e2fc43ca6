/**
 * What the chaos run does to each slug, decided before it starts: the operations in order and the
 * state the slug must end in. Four plans in turn, so every count of slugs mixes them; two slugs
 * in three have Teams (the default: the bot on the slug's managed identity and the tab page too),
 * every third not.
 */
export type ChaosStep = "install" | "upgrade" | "rotate" | "teardown";

export const OLD_IMAGE = "ghcr.io/openclaw/openclaw:2026.9.5";
export const NEW_IMAGE = "ghcr.io/openclaw/openclaw:2026.9.6";

export interface SlugPlan {
  slug: string;
  teams: boolean;
  steps: ChaosStep[];
  /** installed: on NEW_IMAGE with every rotatable secret rotated; destroyed: nothing left. */
  end: "installed" | "destroyed";
}

const PLANS: { steps: ChaosStep[]; end: SlugPlan["end"] }[] = [
  { steps: ["install", "upgrade", "rotate", "teardown"], end: "destroyed" },
  { steps: ["install", "upgrade", "rotate"], end: "installed" },
  { steps: ["install", "rotate", "upgrade"], end: "installed" },
  { steps: ["install", "upgrade", "teardown"], end: "destroyed" },
];

export function chaosPlans(count: number): SlugPlan[] {
  return Array.from({ length: count }, (_, index) => ({
    slug: `chaos${String(index + 1).padStart(2, "0")}`,
    teams: index % 3 !== 2,
    ...PLANS[index % PLANS.length],
  }));
}

/** The request each step sends: `POST /api/slugs/{slug}/{route}` with `body`. */
export function stepRequest(plan: SlugPlan, step: ChaosStep): { route: string; body: unknown } {
  switch (step) {
    case "install":
      return { route: "install", body: { image: OLD_IMAGE, channels: { teams: { enabled: plan.teams } } } };
    case "upgrade":
      return { route: "upgrade", body: { image: NEW_IMAGE } };
    case "rotate":
      return { route: "rotate", body: {} };
    case "teardown":
      return { route: "teardown", body: { confirm: plan.slug, purge: true } };
  }
}
