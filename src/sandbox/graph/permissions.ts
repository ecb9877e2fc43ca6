/**
 * Microsoft Graph's application permissions, as the API reference's permission tables state them
 * for the operations the sandbox serves. A caller holds the app roles granted to its service
 * principal (tests set them; the broker starts with what docs/security.md says Shire needs);
 * without one of the listed sets Graph answers 403 Authorization_RequestDenied.
 *
 * `Application.ReadWrite.OwnedBy` reads every application but writes only those the caller
 * owns (it is made owner of what it creates).
 */
import { SandboxHttpError } from "../types";

/** What docs/security.md grants the broker in Microsoft Graph. */
/**
 * Upserting groups needs Group.ReadWrite.All (Group.Create covers POST only); Application.Read.All
 * lets the broker read the deleted items and principals it does not own.
 */
export const BROKER_GRAPH_PERMISSIONS = [
  "Application.ReadWrite.OwnedBy",
  "Application.Read.All",
  "Group.ReadWrite.All",
  "AppRoleAssignment.ReadWrite.All",
];

export const READ_APPLICATIONS = [
  "Application.Read.All",
  "Application.ReadWrite.OwnedBy",
  "Application.ReadWrite.All",
  "Directory.Read.All",
  "Directory.ReadWrite.All",
];
export const CREATE_APPLICATIONS = [
  "AppRegistration.Create",
  "Application.ReadWrite.OwnedBy",
  "Application.ReadWrite.All",
];
/** Writes to any application or service principal; `Application.ReadWrite.OwnedBy` writes owned ones. */
export const WRITE_ANY_APPLICATION = ["Application.ReadWrite.All", "Directory.ReadWrite.All"];
export const READ_GROUPS = [
  "GroupMember.Read.All",
  "GroupMember.ReadWrite.All",
  "Group.Read.All",
  "Group.ReadWrite.All",
  "Directory.Read.All",
  "Directory.ReadWrite.All",
];
export const CREATE_GROUPS = ["Group.Create", "Group.ReadWrite.All", "Directory.ReadWrite.All"];
export const WRITE_GROUPS = ["Group.ReadWrite.All", "Directory.ReadWrite.All"];
export const WRITE_MEMBERS = ["GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"];
export const READ_USERS = [
  "User.ReadBasic.All",
  "User.Read.All",
  "User.ReadWrite.All",
  "Directory.Read.All",
  "Directory.ReadWrite.All",
];
/** Granting an app role: AppRoleAssignment.ReadWrite.All and a permission that reads the service principal. */
export const ASSIGN_APP_ROLES = [
  ["AppRoleAssignment.ReadWrite.All", "Application.Read.All"],
  ["AppRoleAssignment.ReadWrite.All", "Application.ReadWrite.OwnedBy"],
  ["AppRoleAssignment.ReadWrite.All", "Application.ReadWrite.All"],
  ["AppRoleAssignment.ReadWrite.All", "Directory.Read.All"],
  ["Directory.ReadWrite.All"],
];

export const denied = () =>
  new SandboxHttpError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");

export class GraphPermissions {
  private readonly grants = new Map<string, Set<string>>();

  grant(principalId: string, permissions: string[]): void {
    this.grants.set(principalId.toLowerCase(), new Set(permissions));
  }

  /** Every principal's permissions (persistence). */
  *entries(): Generator<[string, string[]]> {
    for (const [principalId, granted] of this.grants) yield [principalId, [...granted].sort()];
  }

  load(records: Map<string, unknown>): void {
    this.grants.clear();
    for (const [principalId, granted] of records) this.grants.set(principalId, new Set(granted as string[]));
  }

  of(principalId: string): string[] {
    return [...(this.grants.get(principalId.toLowerCase()) ?? [])];
  }

  has(principalId: string, permission: string): boolean {
    return this.grants.get(principalId.toLowerCase())?.has(permission) ?? false;
  }

  /** Throws 403 unless the caller holds one of `anyOf` (a permission, or a set needed together). */
  require(principalId: string, anyOf: (string | string[])[]): void {
    const held = this.grants.get(principalId.toLowerCase()) ?? new Set<string>();
    if (
      !anyOf.some((option) =>
        Array.isArray(option) ? option.every((permission) => held.has(permission)) : held.has(option),
      )
    )
      throw denied();
  }

  /** Writes to an application or service principal: any with `.All`, owned ones with `OwnedBy`. */
  requireWrite(principalId: string, owned: boolean): void {
    if (WRITE_ANY_APPLICATION.some((permission) => this.has(principalId, permission))) return;
    if (owned && this.has(principalId, "Application.ReadWrite.OwnedBy")) return;
    throw denied();
  }
}
