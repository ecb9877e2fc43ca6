/**
 * The broker's entry point (package.json "main"): importing a module registers its functions,
 * exactly as deployed to Azure Functions.
 */
import "./api/slugs";
import "./api/operations";
import "./api/plan";
import "./api/rotate";
import "./api/secrets";
import "./api/rotation-schedule";
import "./api/fallback";
import "../orchestrations/install";
import "../orchestrations/teardown";
import "../orchestrations/rotate";
import "../orchestrations/rotation-schedule";
import "./operations/activity";
import "../activities";
import "../activities/rotation";
