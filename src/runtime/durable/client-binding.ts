/**
 * The `durableClient` input binding's value (durable-facts §5): the URLs durable-functions'
 * DurableClient uses. With `rpcBaseUrl` set, every client call is HTTP against it.
 */
import type { RpcTypedData } from "../worker/core-api";

export const WEBHOOK_PREFIX = "/runtime/webhooks/durabletask";

export function durableClientInputData(baseUrl: string, hubName: string): RpcTypedData {
  const base = baseUrl.replace(/\/$/, "");
  const webhooks = `${base}${WEBHOOK_PREFIX}`;
  const query = `taskHub=${encodeURIComponent(hubName)}&connection=Storage&code=local`;
  const instance = `${webhooks}/instances/INSTANCEID`;
  return {
    json: JSON.stringify({
      taskHubName: hubName,
      creationUrls: {
        createNewInstancePostUri: `${webhooks}/orchestrators/{functionName}[/{instanceId}]?code=local`,
        createAndWaitOnNewInstancePostUri: `${webhooks}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&code=local`,
      },
      managementUrls: {
        id: "INSTANCEID",
        statusQueryGetUri: `${instance}?${query}`,
        sendEventPostUri: `${instance}/raiseEvent/{eventName}?${query}`,
        terminatePostUri: `${instance}/terminate?reason={text}&${query}`,
        rewindPostUri: `${instance}/rewind?reason={text}&${query}`,
        purgeHistoryDeleteUri: `${instance}?${query}`,
        restartPostUri: `${instance}/restart?${query}`,
        suspendPostUri: `${instance}/suspend?reason={text}&${query}`,
        resumePostUri: `${instance}/resume?reason={text}&${query}`,
      },
      baseUrl: webhooks,
      requiredQueryStringParameters: "code=local",
      rpcBaseUrl: `${webhooks}/`,
    }),
  };
}
