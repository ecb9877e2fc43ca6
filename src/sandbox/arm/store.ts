/**
 * The ARM resource store: every resource as ARM returns it on GET, keyed by lowercased id, plus
 * private per-resource data ARM never shows (keys), and the soft-deleted vaults.
 */
export interface ArmResource {
  id: string;
  name: string;
  type: string;
  location?: string;
  tags?: Record<string, string>;
  [field: string]: unknown;
}

export interface StoredResource {
  resource: ArmResource;
  /** Data behind the resource that GET never returns (account keys, shared keys). */
  hidden: Record<string, unknown>;
  createdAt: number;
}

export interface DeletedVault {
  id: string;
  name: string;
  type: "Microsoft.KeyVault/deletedVaults";
  properties: {
    vaultId: string;
    location: string;
    deletionDate: string;
    scheduledPurgeDate: string;
    tags?: Record<string, string>;
    purgeProtectionEnabled: boolean;
  };
  /** The vault as it was, to restore on recover. */
  vault: StoredResource;
}

export class ArmStore {
  private readonly resources = new Map<string, StoredResource>();
  readonly deletedVaults = new Map<string, DeletedVault>();
  /** Run before soft-delete lookups, so lazy sweeps on the sandbox clock happen even for data-plane reads. */
  beforeRead?: () => void;

  get(id: string): StoredResource | undefined {
    return this.resources.get(id.toLowerCase());
  }

  put(stored: StoredResource): void {
    this.resources.set(stored.resource.id.toLowerCase(), stored);
  }

  delete(id: string): boolean {
    return this.resources.delete(id.toLowerCase());
  }

  all(): StoredResource[] {
    return [...this.resources.values()];
  }

  listByType(type: string): StoredResource[] {
    return this.all().filter((stored) => stored.resource.type.toLowerCase() === type.toLowerCase());
  }

  /** Direct and nested children of `id` (deepest first), for cascading deletes. */
  descendants(id: string): StoredResource[] {
    const prefix = `${id.toLowerCase()}/`;
    return this.all()
      .filter((stored) => stored.resource.id.toLowerCase().startsWith(prefix))
      .sort((a, b) => b.resource.id.length - a.resource.id.length);
  }

  findVault(
    name: string,
  ): { id: string; resourceGroup: string; properties: Record<string, unknown>; softDeleted: boolean } | undefined {
    this.beforeRead?.();
    const live = this.listByType("Microsoft.KeyVault/vaults").find(
      (stored) => stored.resource.name.toLowerCase() === name.toLowerCase(),
    );
    if (live)
      return {
        id: live.resource.id,
        resourceGroup: resourceGroupOf(live.resource.id) ?? "",
        properties: live.resource.properties as Record<string, unknown>,
        softDeleted: false,
      };
    const deleted = this.deletedVaults.get(name.toLowerCase());
    if (deleted)
      return {
        id: deleted.properties.vaultId,
        resourceGroup: resourceGroupOf(deleted.properties.vaultId) ?? "",
        properties: deleted.vault.resource.properties as Record<string, unknown>,
        softDeleted: true,
      };
    return undefined;
  }

  findStorageAccount(name: string): StoredResource | undefined {
    return this.listByType("Microsoft.Storage/storageAccounts").find(
      (stored) => stored.resource.name.toLowerCase() === name.toLowerCase(),
    );
  }
}

export function resourceGroupOf(id: string): string | undefined {
  return /\/resourceGroups\/([^/]+)/i.exec(id)?.[1];
}
