/** The slug model: spec, validation, names, the desired-state graph and the container contents. */
export * from "./spec";
export * from "./validate";
export * from "./names";
export * from "./plan";
export { OPENCLAW_PORTS, OPENCLAW_STATE_MOUNT, buildOpenClawConfig, buildOpenClawContainerSpec } from "./openclaw";
export { renderNginxConfig } from "./nginx";
