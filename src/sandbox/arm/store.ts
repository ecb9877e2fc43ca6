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

/** A soft-deleted Cognitive Services account: its name and custom subdomain stay taken until purged or restored. */
export interface DeletedAccount {
  location: string;
  resourceGroup: string;
  deletedAt: number;
  account: StoredResource;
}

export class ArmStore {
  private readonly resources = new Map<string, StoredResource>();
  readonly deletedVaults = new Map<string, DeletedVault>();
  /** Soft-deleted Cognitive Services accounts by `<group>/<name>` (lowercased). */
  readonly deletedAccounts = new Map<string, DeletedAccount>();
  /** Run before soft-delete lookups, so lazy sweeps on the sandbox clock happen even for data-plane reads. */
  beforeRead?: () => void;
  /**
   * Keys of the resources handed out, written or deleted since the last `takeTouched()`. Providers
   * change what `get` and the lists return in place, so whatever was handed out may have changed:
   * persistence compares only these, instead of every resource on every request.
   */
  private touched = new Set<string>();
  /**
   * Called with each resource deleted (on its own or with its group), so stores beside ARM drop
   * the data a resource's deletion takes with it in Azure (a storage account's blobs).
   */
  readonly onDelete: ((deleted: StoredResource) => void)[] = [];

  get(id: string): StoredResource | undefined {
    const key = id.toLowerCase();
    const stored = this.resources.get(key);
    if (stored) this.touched.add(key);
    return stored;
  }

  put(stored: StoredResource): void {
    const key = stored.resource.id.toLowerCase();
    this.resources.set(key, stored);
    this.touched.add(key);
  }

  delete(id: string): boolean {
    const key = id.toLowerCase();
    this.touched.add(key);
    const deleted = this.resources.get(key);
    if (!deleted) return false;
    this.resources.delete(key);
    for (const listener of this.onDelete) listener(deleted);
    return true;
  }

  all(): StoredResource[] {
    return this.handOut([...this.resources.entries()]);
  }

  listByType(type: string): StoredResource[] {
    const wanted = type.toLowerCase();
    return this.handOut(
      [...this.resources.entries()].filter(([, stored]) => stored.resource.type.toLowerCase() === wanted),
    );
  }

  /** Direct and nested children of `id` (deepest first), for cascading deletes. */
  descendants(id: string): StoredResource[] {
    const prefix = `${id.toLowerCase()}/`;
    return this.handOut([...this.resources.entries()].filter(([key]) => key.startsWith(prefix))).sort(
      (a, b) => b.resource.id.length - a.resource.id.length,
    );
  }

  private handOut(entries: [string, StoredResource][]): StoredResource[] {
    for (const [key] of entries) this.touched.add(key);
    return entries.map(([, stored]) => stored);
  }

  /** The keys touched since the last call (see `touched`). */
  takeTouched(): Set<string> {
    const touched = this.touched;
    this.touched = new Set();
    return touched;
  }

  /** A resource by its key, without marking it touched (persistence reads through this). */
  peek(key: string): StoredResource | undefined {
    return this.resources.get(key);
  }

  /** Every resource by key, without marking any touched (snapshots). */
  entries(): IterableIterator<[string, StoredResource]> {
    return this.resources.entries();
  }

  /** Replace every resource (at start, from the state directory). */
  load(resources: Map<string, StoredResource>): void {
    this.resources.clear();
    for (const [key, stored] of resources) this.resources.set(key, stored);
    this.touched.clear();
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
