/**
 * The directory as Microsoft Graph sees it: applications, service principals, groups and users
 * the sandbox's Graph made, plus the service principals of managed identities (made by ARM's
 * Managed Identity provider, found through the shared directory), with Entra's rules on
 * visibility (replication delay), soft delete (30 days, then purged) and ownership.
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import type { SandboxEnvironment } from "../service";
import type { ArmService } from "../arm";
import { SandboxHttpError } from "../types";
import { ODATA_TYPE, type Kind } from "./model";

export interface StoredPassword {
  /** What Graph shows: keyId, displayName, hint, start/end (no secret text). */
  view: Record<string, unknown>;
  /** SHA-256 of the secret text: the token endpoint checks client secrets against it. */
  hash: string;
}

export interface DirectoryObject {
  kind: Kind;
  data: Record<string, unknown> & { id: string };
  /** Clock time of creation: invisible to reads until the replication delay has passed. */
  createdAt: number;
  /** Object id of the principal that created it ('' for the sandbox's own seed). */
  createdBy: string;
  owners: string[];
  deletedAt?: number;
  passwords?: StoredPassword[];
  federatedCredentials?: Record<string, unknown>[];
  members?: string[];
  /** On a service principal: the app role assignments granted on it (appRoleAssignedTo). */
  assignments?: Record<string, unknown>[];
  /** A managed identity's service principal, synthesized from ARM (never stored). */
  managed?: boolean;
}

/** Entra keeps deleted applications, service principals and groups this long, then purges them. */
export const DELETED_RETENTION_MS = 30 * 86_400_000;

export const notFound = (id: string) =>
  new SandboxHttpError(
    404,
    "Request_ResourceNotFound",
    `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
  );

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

export function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a, "hex"), Buffer.from(b, "hex"));
}

export class GraphStore {
  readonly objects = new Map<string, DirectoryObject>();

  constructor(
    private readonly env: SandboxEnvironment,
    private readonly arm: ArmService,
  ) {}

  visible(object: DirectoryObject): boolean {
    return this.env.clock.now() - object.createdAt >= this.env.faults.graphReplicationDelayMs;
  }

  /** Deleted objects past their retention are purged (they stop counting toward the quota). */
  sweep(): void {
    const now = this.env.clock.now();
    for (const [id, object] of this.objects)
      if (object.deletedAt !== undefined && now >= object.deletedAt + DELETED_RETENTION_MS) this.objects.delete(id);
  }

  /** A live, replicated object (of one of the kinds), including managed identities' service principals. */
  live(id: string, kinds?: Kind[]): DirectoryObject | undefined {
    const object = this.objects.get(id.toLowerCase()) ?? this.managedIdentity(id);
    if (!object || object.deletedAt !== undefined || !this.visible(object)) return undefined;
    if (kinds && !kinds.includes(object.kind)) return undefined;
    return object;
  }

  find(kind: Kind, id: string): DirectoryObject {
    const object = this.live(id, [kind]);
    if (!object) throw notFound(id);
    return object;
  }

  /** Live, replicated objects of a kind (managed identities' principals among service principals). */
  list(kind: Kind): DirectoryObject[] {
    const stored = [...this.objects.values()].filter(
      (object) => object.kind === kind && object.deletedAt === undefined && this.visible(object),
    );
    return kind === "servicePrincipal" ? [...stored, ...this.managedIdentities()] : stored;
  }

  /**
   * Live objects whether or not reads can see them yet: writes go to the tenant's primary replica,
   * so a key uniqueness check (uniqueName, appId) sees an object created a moment ago.
   */
  listForWrite(kind: Kind): DirectoryObject[] {
    return [...this.objects.values()].filter((object) => object.kind === kind && object.deletedAt === undefined);
  }

  /**
   * Is a key value (uniqueName) taken? Deleted objects keep theirs until they are purged, so a
   * new object cannot take the name of one in deleted items (restore it, or purge it first).
   */
  keyTaken(kind: Kind, key: string, value: string, except?: DirectoryObject): boolean {
    return [...this.objects.values()].some(
      (object) =>
        object !== except &&
        object.kind === kind &&
        String(object.data[key] ?? "").toLowerCase() === value.toLowerCase(),
    );
  }

  create(kind: Kind, data: Record<string, unknown>, createdBy: string, owners: string[]): DirectoryObject {
    const id = randomUUID();
    const object: DirectoryObject = {
      kind,
      data: { id, ...data, createdDateTime: new Date(this.env.clock.now()).toISOString() },
      createdAt: this.env.clock.now(),
      createdBy,
      owners,
    };
    this.objects.set(id, object);
    if (kind !== "application")
      this.env.directory.add({
        id,
        kind: kind === "group" ? "Group" : kind === "user" ? "User" : "ServicePrincipal",
        displayName: String(data.displayName ?? ""),
      });
    return object;
  }

  /** Seed an object the sandbox's directory starts with (visible at once, outside any quota). */
  seed(kind: Kind, id: string, data: Record<string, unknown>): DirectoryObject {
    const object: DirectoryObject = {
      kind,
      data: { id, ...data, createdDateTime: new Date(this.env.clock.now()).toISOString() },
      createdAt: Number.NEGATIVE_INFINITY,
      createdBy: "",
      owners: [],
    };
    this.objects.set(id.toLowerCase(), object);
    if (kind !== "application")
      this.env.directory.add(
        {
          id,
          kind: kind === "group" ? "Group" : kind === "user" ? "User" : "ServicePrincipal",
          displayName: String(data.displayName ?? ""),
        },
        Number.NEGATIVE_INFINITY,
      );
    return object;
  }

  softDelete(object: DirectoryObject): void {
    object.deletedAt = this.env.clock.now();
    if (object.kind !== "application") this.env.directory.remove(object.data.id);
  }

  /** Objects the principal created that still count toward its 250-object quota (soft-deleted ones do). */
  createdBy(principalId: string): number {
    return [...this.objects.values()].filter((object) => object.createdBy === principalId).length;
  }

  applicationOf(servicePrincipal: DirectoryObject): DirectoryObject | undefined {
    return [...this.objects.values()].find(
      (object) =>
        object.kind === "application" &&
        object.deletedAt === undefined &&
        object.data.appId === servicePrincipal.data.appId,
    );
  }

  servicePrincipalOf(application: DirectoryObject): DirectoryObject | undefined {
    return [...this.objects.values()].find(
      (object) =>
        object.kind === "servicePrincipal" &&
        object.deletedAt === undefined &&
        object.data.appId === application.data.appId,
    );
  }

  /** Owns the object (or, for a service principal, its application). */
  owns(principalId: string, object: DirectoryObject): boolean {
    if (object.owners.includes(principalId)) return true;
    if (object.kind === "servicePrincipal") return this.applicationOf(object)?.owners.includes(principalId) ?? false;
    return false;
  }

  /** The Graph view of an object: its data, plus what Graph derives (an SP's app roles from its app). */
  view(object: DirectoryObject): Record<string, unknown> {
    const full: Record<string, unknown> = {
      "@odata.type": ODATA_TYPE[object.kind],
      ...object.data,
      deletedDateTime: object.deletedAt === undefined ? null : new Date(object.deletedAt).toISOString(),
    };
    if (object.kind === "application")
      full.passwordCredentials = (object.passwords ?? []).map((password) => password.view);
    if (object.kind === "servicePrincipal" && !object.managed) {
      const application = this.applicationOf(object);
      full.appRoles = ((application?.data.appRoles as Record<string, unknown>[] | undefined) ?? []).map((role) => ({
        ...role,
        origin: "Application",
      }));
      full.oauth2PermissionScopes =
        (application?.data.api as { oauth2PermissionScopes?: unknown[] } | undefined)?.oauth2PermissionScopes ?? [];
    }
    return full;
  }

  private managedIdentities(): DirectoryObject[] {
    return this.arm.store
      .listByType("Microsoft.ManagedIdentity/userAssignedIdentities")
      .map((stored) =>
        this.managedIdentity(String((stored.resource.properties as { principalId?: string }).principalId ?? "")),
      )
      .filter((object): object is DirectoryObject => object !== undefined && this.visible(object));
  }

  /**
   * A user-assigned identity's service principal (servicePrincipalType ManagedIdentity): it lives
   * in the shared directory (made by ARM), and Graph describes it from the identity resource.
   */
  private managedIdentity(id: string): DirectoryObject | undefined {
    const principal = this.env.directory.get(id);
    if (!principal || principal.kind !== "ServicePrincipal") return undefined;
    const identity = this.arm.store
      .listByType("Microsoft.ManagedIdentity/userAssignedIdentities")
      .find(
        (stored) =>
          String((stored.resource.properties as { principalId?: string }).principalId).toLowerCase() ===
          id.toLowerCase(),
      );
    if (!identity) return undefined;
    const clientId = String((identity.resource.properties as { clientId?: string }).clientId);
    return {
      kind: "servicePrincipal",
      managed: true,
      createdAt: principal.createdAt,
      createdBy: "",
      owners: [],
      data: {
        id: principal.id,
        appId: clientId,
        displayName: identity.resource.name,
        servicePrincipalType: "ManagedIdentity",
        accountEnabled: true,
        appRoleAssignmentRequired: false,
        alternativeNames: ["isExplicit=True", identity.resource.id],
        servicePrincipalNames: [
          clientId,
          `https://identity.azure.net/${createHash("sha256").update(principal.id).digest("base64url").slice(0, 43)}`,
        ],
        appOwnerOrganizationId: "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
        tags: [],
        appRoles: [],
        oauth2PermissionScopes: [],
        createdDateTime: new Date(identity.createdAt).toISOString(),
      },
    };
  }
}
