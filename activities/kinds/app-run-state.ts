/**
 * Whether the Container App serves. Retiring a slug stops it (Container Apps' stop: no replicas,
 * nothing routed; the app, its URL and its data stay); cancelling the teardown starts it again.
 * A state of another resource, not a resource: removing it changes nothing.
 */
import { getOrUndefined } from "../arm";
import { defineKind } from "../define";
import { permanent, transient } from "../errors";

export const appRunStateKind = defineKind({
  kind: "appRunState",
  summary: "Whether the Container App runs (retire stops it, cancelling a teardown starts it).",
  api: "ARM Microsoft.App/containerApps start/stop",
  teardown: () => "cascade",
  activities: (deps) => {
    const apps = deps.clients.containerApps.containerApps;
    return {
      ensure: async ({ nodeId, desired }) => {
        const app = await getOrUndefined(() => apps.get(desired.resourceGroup, desired.containerAppName));
        if (!app) {
          // Nothing to stop is stopped; nothing to start is a failure the operator must see.
          if (!desired.running) return { nodeId, action: "absent", changed: [], outputs: { runningStatus: null } };
          throw permanent(
            "ContainerAppNotFound",
            `Container app ${desired.containerAppName} does not exist: install the slug again.`,
          );
        }
        const status = app.runningStatus ?? "Running";
        if (status === "Progressing")
          throw transient("ResourceNotReady", `Container app ${desired.containerAppName} is ${status}: waiting.`);
        const running = status !== "Stopped";
        if (running === desired.running)
          return { nodeId, action: "unchanged", resourceId: app.id, changed: [], outputs: { runningStatus: status } };
        deps.beforeWrite(["runningStatus"], true);
        const after = desired.running
          ? await apps.beginStartAndWait(desired.resourceGroup, desired.containerAppName, deps.clients.operationPolling)
          : await apps.beginStopAndWait(desired.resourceGroup, desired.containerAppName, deps.clients.operationPolling);
        return {
          nodeId,
          action: "updated",
          resourceId: app.id,
          changed: ["runningStatus"],
          outputs: { runningStatus: after?.runningStatus ?? (desired.running ? "Running" : "Stopped") },
        };
      },
      remove: async ({ nodeId }) => ({ nodeId, action: "absent", changed: [], outputs: {} }),
    };
  },
});
