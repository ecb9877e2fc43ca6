/**
 * `GET /api/placement[?region=<r>]`: the pool as the next install in that region would see it,
 * subscription by subscription in the pool's order: environments and role assignments used
 * (Azure's lists plus the claims of installs placed but not yet listed), their limits, what a
 * default slug would add, and whether it fits. Read only: it claims nothing.
 */
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import { activityDepsFromEnv } from "../../activities/deps";
import { planSlug } from "../model/plan";
import { validateInstallRequest } from "../model/validate";
import { OperationStore } from "../operations/records";
import { planContextFromEnv } from "./plan-context";
import { ledgerClaims, normalizeRegion, placementNeeds, placementSettingsFromEnv, roomFor } from "./placement";
import { apiError, json } from "./responses";
import { apiRoute } from "./route";

/** The slug the view plans for: only the counts of its plan matter (one environment, its grants). */
const PROBE = "placement-probe";

async function getPlacement(request: HttpRequest): Promise<HttpResponseInit> {
  const asked = request.query.get("region") ?? undefined;
  // The install defaults (the default region, Teams on) as a new slug would have them.
  const validation = validateInstallRequest(PROBE, asked ? { region: asked } : {});
  if (!validation.ok)
    return apiError(400, "InvalidRequest", "The region is not one Shire deploys to.", validation.problems);
  const { spec } = validation;
  const brokerSubscription = planContextFromEnv().subscriptionId;
  const settings = placementSettingsFromEnv(brokerSubscription);
  const region = normalizeRegion(spec.region);
  const claims = ledgerClaims(OperationStore.fromEnv());
  const subscriptions = await Promise.all(
    settings.pool.map(async (entry) => {
      if (entry.regions && !entry.regions.includes(region))
        return { subscriptionId: entry.subscriptionId, region, serves: false };
      const room = await roomFor({
        deps: activityDepsFromEnv(entry.subscriptionId),
        region,
        needs: placementNeeds(
          planSlug(spec, planContextFromEnv(process.env, entry.subscriptionId)),
          entry.subscriptionId,
        ),
        settings,
        claims,
        // No slug's claim is left out of the count (claims are keyed by slug, never by ""); none is made.
        claim: { slug: "", write: false },
      });
      return { ...room, serves: true };
    }),
  );
  const next = subscriptions.find((subscription) => "fits" in subscription && subscription.fits);
  return json(200, {
    region,
    limits: {
      environmentsPerRegion: settings.environmentsPerRegion ?? "unlimited",
      roleAssignmentsPerSubscription: settings.roleAssignmentsPerSubscription ?? "unlimited",
    },
    subscriptions,
    nextSubscriptionId: next?.subscriptionId ?? null,
  });
}

apiRoute({
  name: "getPlacement",
  route: "placement",
  methods: ["GET"],
  role: "Shire.Reader",
  handler: getPlacement,
});
