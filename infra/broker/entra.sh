#!/usr/bin/env bash
# The Entra half of the broker's deployment, which an ARM template cannot express (docs/deploy.md):
#
#   entra.sh api-app                                before the template: the app registration that
#                                                   App Service authentication accepts tokens for, with
#                                                   the app roles Shire.Reader, Shire.Operator and
#                                                   Shire.Admin (prints authClientId for the template)
#   entra.sh grant-graph --principal-id <id>        after it: the Microsoft Graph application
#                                                   permissions the broker's identity needs, granted
#                                                   with admin consent (the template's principalId output)
#   entra.sh assign-role --principal-id <id> --role <Shire.Reader|Shire.Operator|Shire.Admin>
#                                                   who may do what: a user, group or service principal
#
# It calls Microsoft Graph through `az rest` as the signed-in Azure CLI user (`az login`), and needs
# jq. Granting Graph application permissions takes a Privileged Role Administrator (or Global
# Administrator); creating the app registration, an Application Developer. Every command can run
# again: it writes only what is missing.
set -euo pipefail

# Microsoft Graph's own application id (the same in every tenant and cloud).
readonly GRAPH_APP_ID="00000003-0000-0000-c000-000000000000"
# What the broker does in Entra, and the least Graph permission for each (docs/security.md).
readonly GRAPH_PERMISSIONS=(
  "Application.ReadWrite.OwnedBy"   # create the slugs' app registrations and manage the ones it owns
  "Application.Read.All"            # read apps and principals it does not own (assignments, deleted items)
  "Group.ReadWrite.All"             # upsert, read and delete the shire-* groups
  "AppRoleAssignment.ReadWrite.All" # assign the groups and allowed identities to each slug's sign-in app
)
# The API's app registration, found again by this tenant-unique key on every run.
readonly API_UNIQUE_NAME="${SHIRE_API_APP_NAME:-shire-broker-api}"
# Azure CLI's application id: pre-authorized, so `az account get-access-token` gets tokens for the API.
readonly AZURE_CLI_APP_ID="04b07795-8ddb-461a-bbee-02f9e1bf7b46"
# Fixed ids: a re-run updates the same roles and scope instead of adding new ones.
readonly USER_IMPERSONATION_SCOPE_ID="073ccca5-d542-42fb-9b44-5a8d36045623"
app_roles_json() {
  # Each role includes the ones below it (src/api/auth.ts).
  jq -n '[
    {value: "Shire.Reader", id: "f197e116-671d-4aa6-8f54-d6e41b09aeec", displayName: "Shire reader",
     description: "Read slugs, operations and plans (every GET, the dry run)."},
    {value: "Shire.Operator", id: "5061dfbe-2004-4d14-8b95-7ba322fd0eb9", displayName: "Shire operator",
     description: "Install, upgrade, rotate, waves, secrets, repair; and what a reader may."},
    {value: "Shire.Admin", id: "106128b1-b467-44d9-92d6-4d6dfb27515c", displayName: "Shire administrator",
     description: "Tear down, purge and cancel; and what an operator may."}
  ] | map(. + {allowedMemberTypes: ["User", "Application"], isEnabled: true})'
}

die() {
  echo "entra.sh: $*" >&2
  exit 1
}
usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# Microsoft Graph of the cloud the Azure CLI is signed in to (graph.microsoft.com in Azure's public cloud).
connect() {
  command -v az >/dev/null || die "needs the Azure CLI (az), signed in with az login"
  command -v jq >/dev/null || die "needs jq"
  GRAPH="$(az cloud show -o json | jq -r '.endpoints.microsoftGraphResourceId' | sed 's:/*$::')/v1.0"
}

# graph METHOD PATH [BODY [HEADER]]: one Graph request; prints the JSON answer (nothing for 204).
graph() {
  local args=(rest --method "$1" --url "$GRAPH/$2" -o json)
  [[ $# -ge 3 && -n $3 ]] && args+=(--body "$3")
  [[ $# -ge 4 ]] && args+=(--headers "$4")
  az "${args[@]}"
}

# with_retries COMMAND...: Entra replicates new objects for a while (a read right after a create
# may not find them): retry after 2, 4, 8, 16 and 32 seconds.
with_retries() {
  local attempt
  for attempt in 1 2 3 4 5; do
    if "$@"; then return 0; fi
    echo "entra.sh: retrying in $((2 ** attempt)) s (Entra may not have replicated yet)" >&2
    sleep $((2 ** attempt))
  done
  "$@"
}

# The API app registration's service principal id for an appId (created when missing).
api_service_principal() {
  local app_id=$1 found
  found="$(graph GET "servicePrincipals?\$filter=appId%20eq%20'$app_id'&\$select=id,appRoleAssignmentRequired")"
  if [[ $(jq '.value | length' <<<"$found") -eq 0 ]]; then
    with_retries graph POST servicePrincipals "$(jq -n --arg appId "$app_id" '{appId: $appId, appRoleAssignmentRequired: true}')" |
      jq -r '.id'
    return
  fi
  local id
  id="$(jq -r '.value[0].id' <<<"$found")"
  if [[ $(jq -r '.value[0].appRoleAssignmentRequired' <<<"$found") != "true" ]]; then
    graph PATCH "servicePrincipals/$id" '{"appRoleAssignmentRequired": true}' >/dev/null
  fi
  echo "$id"
}

api_app() {
  local scope app app_id
  scope="$(jq -n --arg id "$USER_IMPERSONATION_SCOPE_ID" '[{
    id: $id, value: "user_impersonation", type: "User", isEnabled: true,
    adminConsentDisplayName: "Use Shire", adminConsentDescription: "Call the Shire API as the signed-in user (what the user may do is their app role).",
    userConsentDisplayName: "Use Shire", userConsentDescription: "Call the Shire API as you."}]')"
  # Upsert by uniqueName: the answer is the app when it was created, empty when it was updated.
  app="$(graph PATCH "applications(uniqueName='$API_UNIQUE_NAME')" "$(jq -n \
    --argjson roles "$(app_roles_json)" --argjson scopes "$scope" '{
      displayName: "Shire API", signInAudience: "AzureADMyOrg", appRoles: $roles,
      api: {requestedAccessTokenVersion: 2, oauth2PermissionScopes: $scopes}}')" "Prefer=create-if-missing")"
  [[ -n $app ]] || app="$(with_retries graph GET "applications(uniqueName='$API_UNIQUE_NAME')")"
  app_id="$(jq -r '.appId' <<<"$app")"
  # Needs the app id (and the scope the first request defined).
  with_retries graph PATCH "applications/$(jq -r '.id' <<<"$app")" "$(jq -n --arg appId "$app_id" \
    --arg cli "$AZURE_CLI_APP_ID" --arg scopeId "$USER_IMPERSONATION_SCOPE_ID" --argjson scopes "$scope" '{
      identifierUris: ["api://\($appId)"],
      api: {requestedAccessTokenVersion: 2, oauth2PermissionScopes: $scopes,
            preAuthorizedApplications: [{appId: $cli, delegatedPermissionIds: [$scopeId]}]}}')" >/dev/null
  api_service_principal "$app_id" >/dev/null
  echo "The API app registration is $API_UNIQUE_NAME, with the app roles Shire.Reader, Shire.Operator, Shire.Admin."
  echo "authClientId=$app_id"
}

grant_graph() {
  local principal=$1 graph_sp broker assigned roles=() missing=() granted=0
  graph_sp="$(graph GET "servicePrincipals?\$filter=appId%20eq%20'$GRAPH_APP_ID'&\$select=id,appRoles" | jq '.value[0]')"
  [[ $graph_sp != null ]] || die "this tenant has no Microsoft Graph service principal"
  # Every permission's id as this Graph names it, before granting any.
  for permission in "${GRAPH_PERMISSIONS[@]}"; do
    roles+=("$(jq -r --arg p "$permission" \
      '.appRoles[] | select(.value == $p and (.allowedMemberTypes | index("Application"))) | .id' <<<"$graph_sp")")
    [[ -n ${roles[${#roles[@]} - 1]} ]] || missing+=("$permission")
  done
  [[ ${#missing[@]} -eq 0 ]] || die "Microsoft Graph has no application permission ${missing[*]}; nothing was granted"
  broker="$(with_retries graph GET "servicePrincipals/$principal?\$select=id,displayName")"
  assigned="$(graph GET "servicePrincipals/$principal/appRoleAssignments" |
    jq --arg graph "$(jq -r '.id' <<<"$graph_sp")" '[.value[] | select(.resourceId == $graph) | .appRoleId]')"
  for i in "${!GRAPH_PERMISSIONS[@]}"; do
    if jq -e --arg role "${roles[$i]}" 'index($role)' <<<"$assigned" >/dev/null; then
      echo "${GRAPH_PERMISSIONS[$i]}: already granted"
      continue
    fi
    graph POST "servicePrincipals/$principal/appRoleAssignments" "$(jq -n --arg p "$principal" \
      --arg r "$(jq -r '.id' <<<"$graph_sp")" --arg a "${roles[$i]}" '{principalId: $p, resourceId: $r, appRoleId: $a}')" >/dev/null
    echo "${GRAPH_PERMISSIONS[$i]}: granted"
    granted=$((granted + 1))
  done
  echo "$(jq -r '.displayName' <<<"$broker") holds the broker's Microsoft Graph permissions ($granted newly granted)."
}

assign_role() {
  local principal=$1 role=$2 app app_id role_id sp
  app="$(graph GET "applications(uniqueName='$API_UNIQUE_NAME')")"
  app_id="$(jq -r '.appId' <<<"$app")"
  role_id="$(jq -r --arg role "$role" '.appRoles[] | select(.value == $role) | .id' <<<"$app")"
  [[ -n $role_id ]] || die "the API app has no role '$role' (Shire.Reader, Shire.Operator, Shire.Admin)"
  sp="$(api_service_principal "$app_id")"
  if graph GET "servicePrincipals/$sp/appRoleAssignedTo" |
    jq -e --arg p "$principal" --arg r "$role_id" 'any(.value[]; .principalId == $p and .appRoleId == $r)' >/dev/null; then
    echo "$principal already has $role"
    return
  fi
  graph POST "servicePrincipals/$sp/appRoleAssignedTo" "$(jq -n --arg p "$principal" --arg s "$sp" --arg r "$role_id" \
    '{principalId: $p, resourceId: $s, appRoleId: $r}')" >/dev/null
  echo "$principal now has $role"
}

command="${1:-}"
[[ -n $command ]] || usage
shift
principal="" role=""
while [[ $# -gt 0 ]]; do
  case $1 in
  --principal-id) principal=${2:-} && shift 2 ;;
  --role) role=${2:-} && shift 2 ;;
  *) die "unknown option $1" ;;
  esac
done
case $command in
api-app) connect && api_app ;;
grant-graph)
  [[ -n $principal ]] || die "grant-graph needs --principal-id (the deployment's principalId output)"
  connect && grant_graph "$principal"
  ;;
assign-role)
  [[ -n $principal && -n $role ]] || die "assign-role needs --principal-id and --role"
  connect && assign_role "$principal" "$role"
  ;;
*) usage ;;
esac
