/**
 * The broker's entry point (package.json "main"): importing a module registers its functions,
 * exactly as deployed to Azure Functions.
 */
import "./telemetry/bootstrap"; // first: the Azure SDK instrumentation must be in place before any client exists
import "./api/slugs";
import "./api/operations";
import "./api/plan";
import "./api/teams-app";
import "./api/drift";
import "./api/template";
import "./api/upgrade";
import "./api/waves";
import "./api/rotate";
import "./api/secrets";
import "./api/rotation-schedule";
import "./api/placement-view";
import "./api/fallback";
import "../orchestrations/install";
import "../orchestrations/teardown";
import "../orchestrations/repair";
import "../orchestrations/drift-audit";
import "../orchestrations/upgrade";
import "../orchestrations/wave";
import "../orchestrations/rotate";
import "../orchestrations/rotation-schedule";
import "./operations/activity";
import "../activities";
import "../activities/upgrade";
import "../activities/rotation";
