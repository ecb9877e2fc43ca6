/** ARM's error codes and messages, one named constructor each (STYLE.md §5, §12). */
import { SandboxHttpError } from "../types";

/** Regions the sandbox offers (ARM lists the supported ones in its location errors). */
export const ARM_LOCATIONS = ["westeurope", "northeurope", "eastus", "eastus2", "westus2", "swedencentral", "uksouth"];

export const ArmErrors = {
  missingApiVersion: () =>
    new SandboxHttpError(
      400,
      "MissingApiVersionParameter",
      "The api-version query parameter (?api-version=) is required for all requests.",
    ),
  invalidApiVersion: (apiVersion: string, supported: string) =>
    new SandboxHttpError(
      400,
      "InvalidApiVersionParameter",
      `The api-version '${apiVersion}' is invalid. The supported versions are '${supported}'.`,
    ),
  noRegisteredProvider: (type: string, apiVersion: string, location: string, supported: string) =>
    new SandboxHttpError(
      400,
      "NoRegisteredProviderFound",
      `No registered resource provider found for location '${location}' and API version '${apiVersion}' for type '${type.split("/").slice(1).join("/")}'. The supported api-versions are '${supported}'. The supported locations are '${ARM_LOCATIONS.join(", ")}'.`,
    ),
  invalidResourceType: (type: string) =>
    new SandboxHttpError(
      400,
      "InvalidResourceType",
      `The resource type '${type}' could not be found in the namespace '${type.split("/")[0]}' for api version.`,
    ),
  resourceGroupNotFound: (name: string) =>
    new SandboxHttpError(404, "ResourceGroupNotFound", `Resource group '${name}' could not be found.`),
  resourceNotFound: (type: string, name: string, group?: string) =>
    new SandboxHttpError(
      404,
      "ResourceNotFound",
      `The Resource '${type}/${name}' under resource group '${group ?? "<none>"}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    ),
  parentNotFound: (parentId: string) =>
    new SandboxHttpError(
      404,
      "ParentResourceNotFound",
      `Failed to perform the operation on the resource: parent resource '${parentId}' not found.`,
    ),
  invalidContent: (message: string) => new SandboxHttpError(400, "InvalidRequestContent", message),
  invalidName: (code: string, message: string) => new SandboxHttpError(400, code, message),
  locationRequired: () =>
    new SandboxHttpError(400, "LocationRequired", "The location property is required for this definition."),
  locationNotAvailableForGroup: (location: string) =>
    new SandboxHttpError(
      400,
      "LocationNotAvailableForResourceGroup",
      `The provided location '${location}' is not available for resource group. List of available regions is '${ARM_LOCATIONS.join(",")}'.`,
    ),
  locationNotAvailableForType: (location: string, type: string, allowed: string[]) =>
    new SandboxHttpError(
      400,
      "LocationNotAvailableForResourceType",
      `The provided location '${location}' is not available for resource type '${type}'. List of available regions for the resource type is '${allowed.join(",")}'.`,
    ),
  /** A tracked resource cannot move by PUT: Azure answers as if a new resource were asked for in another region. */
  locationChange: (name: string, existing: string, group: string, requested: string) =>
    new SandboxHttpError(
      409,
      "InvalidResourceLocation",
      `The resource '${name}' already exists in location '${existing}' in resource group '${group}'. A resource with the same name cannot be created in location '${requested}'. Please select a new resource name.`,
    ),
  conflict: (code: string, message: string) => new SandboxHttpError(409, code, message),
  badRequest: (code: string, message: string, details?: unknown) =>
    new SandboxHttpError(400, code, message, {}, details),
  beingDeleted: (name: string) =>
    new SandboxHttpError(
      409,
      "ResourceGroupBeingDeleted",
      `The resource group '${name}' is in deprovisioning state and cannot perform this operation.`,
    ),
  /** ARM's generic answer to a write while the resource's own long-running operation has not finished. */
  anotherOperationInProgress: (id: string) =>
    new SandboxHttpError(
      409,
      "AnotherOperationInProgress",
      `Another operation on this or dependent resource is in progress. Resource: '${id}'. Retry the request after the operation completes.`,
    ),
  methodNotAllowed: (method: string, type: string) =>
    new SandboxHttpError(
      405,
      "MethodNotAllowed",
      `The requested resource does not support http method '${method}' for type '${type}'.`,
    ),
};
