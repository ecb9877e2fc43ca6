/**
 * An Entra app registration and its service principal: the slug's sign-in app (Container Apps
 * authentication; only assigned principals get tokens) or, with Teams, the bot's own app. Keyed
 * by `uniqueName` (activities/graph.ts explains the upsert); a deleted app still holding the name
 * is restored. Removal deletes only an app carrying this slug's ownership tag (its service
 * principal goes with it) and, with purge, clears it from deleted items.
 */
import { defineKind } from "../define";
import { permanent } from "../errors";
import { removalResult } from "../arm";
import { createGraphHelpers, escapeOData, sameSet, type GraphApplication, type GraphServicePrincipal } from "../graph";

const APP_FIELDS = "id,appId,displayName,uniqueName,tags,web";

export const entraAppKind = defineKind({
  kind: "entraApp",
  summary:
    "Entra app registration + service principal (the sign-in app; for a Teams bot on an app registration, the bot's own app).",
  api: "Microsoft Graph applications, servicePrincipals",
  teardown: () => "remove",
  activities: (deps) => {
    const {
      find,
      upsert,
      withReplicationRetry,
      deleteObject,
      findDeleted,
      findDeletedOnceReplicated,
      findDeletedPrincipal,
      purgeDeleted,
    } = createGraphHelpers(deps);
    return {
      ensure: async ({ nodeId, desired }) => {
        const appPath = `/applications(uniqueName='${escapeOData(desired.uniqueName)}')`;
        const found = await find<GraphApplication>(appPath, APP_FIELDS);
        const changed: string[] = [];
        let application = found;
        /** Did this run create the app? (An app adopted after a conflict existed already: not visible to the first read.) */
        let created = false;
        if (!application) {
          deps.beforeWrite([], false);
          const outcome = await upsert<GraphApplication>(
            "application",
            appPath,
            APP_FIELDS,
            {
              displayName: desired.displayName,
              signInAudience: "AzureADMyOrg",
              tags: [desired.ownershipTag, "managed-by:shire"],
              web: {
                redirectUris: desired.redirectUris,
                implicitGrantSettings: { enableIdTokenIssuance: desired.idTokenIssuance },
              },
              // Only groups assigned to the app go into the token: avoids the ~200-group overage.
              groupMembershipClaims: "ApplicationGroup",
            },
            { type: "microsoft.graph.application", uniqueName: desired.uniqueName },
          );
          application = outcome.object;
          created = outcome.created;
        }
        const app = application;
        const webChanges = [
          ...(sameSet(app.web?.redirectUris ?? [], desired.redirectUris) ? [] : ["web.redirectUris"]),
          ...((app.web?.implicitGrantSettings?.enableIdTokenIssuance ?? false) === desired.idTokenIssuance
            ? []
            : ["web.implicitGrantSettings.enableIdTokenIssuance"]),
        ];
        if (webChanges.length > 0) {
          deps.beforeWrite(webChanges, true);
          // PATCH replaces a complex property whole: send every part of `web` Shire manages.
          const web = {
            redirectUris: desired.redirectUris,
            implicitGrantSettings: {
              ...app.web?.implicitGrantSettings,
              enableIdTokenIssuance: desired.idTokenIssuance,
            },
          };
          await withReplicationRetry("update the app's web settings", (graph) =>
            graph.api(`/applications/${app.id}`).patch({ web }),
          );
          changed.push(...webChanges);
        }

        // The service principal: keyed by appId; `appRoleAssignmentRequired` decides who gets tokens.
        const principalPath = `/servicePrincipals(appId='${escapeOData(app.appId)}')`;
        let principal = await find<GraphServicePrincipal>(principalPath, "id,appId,appRoleAssignmentRequired");
        if (!principal) {
          deps.beforeWrite(["servicePrincipal"], !created);
          // A brand-new app may not have replicated yet (400 about the appId): upsert waits for it.
          const outcome = await upsert<GraphServicePrincipal>(
            "service principal",
            principalPath,
            "id,appId,appRoleAssignmentRequired",
            {
              appRoleAssignmentRequired: desired.assignmentRequired,
              tags: [desired.ownershipTag],
            },
          );
          principal = outcome.object;
          if (outcome.created && !created) changed.push("servicePrincipal");
        }
        if ((principal.appRoleAssignmentRequired ?? false) !== desired.assignmentRequired) {
          const principalId = principal.id;
          deps.beforeWrite(["servicePrincipal.appRoleAssignmentRequired"], true);
          await withReplicationRetry("set assignment required", (graph) =>
            graph
              .api(`/servicePrincipals/${principalId}`)
              .patch({ appRoleAssignmentRequired: desired.assignmentRequired }),
          );
          changed.push("servicePrincipal.appRoleAssignmentRequired");
        }
        return {
          nodeId,
          action: created ? ("created" as const) : changed.length > 0 ? ("updated" as const) : ("unchanged" as const),
          resourceId: app.id,
          changed: created ? [] : changed,
          outputs: { applicationObjectId: app.id, appId: app.appId, servicePrincipalId: principal.id },
        };
      },
      remove: async ({ nodeId, desired, purge }) => {
        const lookup = { type: "microsoft.graph.application" as const, uniqueName: desired.uniqueName };
        const app = await find<GraphApplication>(
          `/applications(uniqueName='${escapeOData(desired.uniqueName)}')`,
          APP_FIELDS,
        );
        if (app && !(app.tags ?? []).includes(desired.ownershipTag)) {
          throw permanent(
            "NotManagedByShire",
            `Entra app ${desired.uniqueName} (${app.id}) does not carry the tag ${desired.ownershipTag}: Shire does not delete it.`,
            422,
          );
        }
        // With purge, what an earlier removal left in deleted items goes too: the app and its service principal.
        const deletedApp = app || !purge ? undefined : await findDeleted(lookup);
        const appId = app?.appId ?? deletedApp?.appId;
        const deletedPrincipal = !app && purge && appId ? await findDeletedPrincipal(appId) : undefined;
        if (!app && !deletedApp && !deletedPrincipal) return removalResult(nodeId, undefined);
        deps.beforeWrite(["."], true, true);
        // Deleting the app deletes its service principal (and with it the app's assignments).
        if (app) await deleteObject(`/applications/${app.id}`, lookup, false);
        if (purge && appId) {
          // The principal is purged before the app: the deleted app (found by its uniqueName) is
          // the only way back to the appId, so an attempt that fails in between leaves the next
          // one what it needs to find the principal.
          const principal = deletedPrincipal ?? (await findDeletedPrincipal(appId));
          if (principal) await purgeDeleted(principal.id);
          const deleted = deletedApp ?? (app ? await findDeletedOnceReplicated(lookup) : undefined);
          if (deleted) await purgeDeleted(deleted.id);
        }
        return removalResult(nodeId, app?.id ?? deletedApp?.id ?? deletedPrincipal!.id);
      },
    };
  },
});
