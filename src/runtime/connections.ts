/**
 * Storage connection names as the WebJobs storage extensions resolve them: no name means
 * `AzureWebJobsStorage`; a name `X` is looked up as the app setting `AzureWebJobsX` first, then `X`.
 * `UseDevelopmentStorage=true` means the emulator (Azurite, started by the host).
 */
import type { ConnectionResolver } from "./worker/bindings";

export function storageConnectionResolver(
  settings: NodeJS.ProcessEnv,
  developmentStorage: () => string | undefined,
): ConnectionResolver {
  return (connectionName) => {
    const name = connectionName?.trim() || "Storage";
    const candidates = name === "AzureWebJobsStorage" ? [name] : [`AzureWebJobs${name}`, name];
    for (const candidate of candidates) {
      const value = settings[candidate];
      if (!value) continue;
      if (/UseDevelopmentStorage=true/i.test(value)) {
        const emulator = developmentStorage();
        if (emulator) return { connectionString: emulator };
        return { error: `App setting '${candidate}' asks for development storage, which is not running.` };
      }
      return { connectionString: value };
    }
    if (settings[`${name}__serviceUri`] || settings[`${name}__queueServiceUri`]) {
      return {
        error: `Identity-based connection '${name}' is not supported by the local host; set a connection string in '${name}'.`,
      };
    }
    return {
      error: `Storage account connection string '${candidates[0]}' does not exist. Make sure that it is a defined App Setting.`,
    };
  };
}
