import type { Props } from '../../../../src/common/props/keys.js';
import type { ConnectionStatus, NodeType, ProviderKind } from '../../../../src/common/vocabulary.js';
import type {
  PlacementFilter,
  PlacementRequest,
  PlacementSnapshot,
  SnapshotNode,
  SnapshotPool,
  SnapshotResource,
} from '../../../../src/controller/autoplacer/types.js';

export const MiB = 1024n;
export const GiB = 1024n ** 2n;
export const TiB = 1024n ** 3n;

export interface NodeOptions {
  props?: Props;
  status?: ConnectionStatus;
  type?: NodeType;
  /** Skip the DfltDisklessStorPool every storage node gets. */
  noDisklessPool?: boolean;
}

export interface PoolOptions {
  kind?: ProviderKind;
  /** Total capacity in KiB; null = never reported. Default 100 GiB. */
  total?: bigint | null;
  /** Free capacity in KiB; null = never reported. Default = total. */
  free?: bigint | null;
  reserved?: bigint;
  count?: number;
  props?: Props;
  lastError?: string | null;
}

/**
 * Builds autoplacer snapshots: cluster().node('n1', { props: { 'Aux/site': 'a' } }).pool('n1', 'thin', { free: 50n * GiB }).
 * Storage nodes are ONLINE SATELLITEs with a DfltDisklessStorPool unless told otherwise.
 */
export class ClusterBuilder {
  readonly nodes: SnapshotNode[] = [];
  readonly pools: SnapshotPool[] = [];
  readonly resources: SnapshotResource[] = [];
  controllerProps: Props = {};

  node(name: string, options: NodeOptions = {}): this {
    const type = options.type ?? 'SATELLITE';
    this.nodes.push({ name, type, connectionStatus: options.status ?? 'ONLINE', props: options.props ?? {} });
    if (!options.noDisklessPool && (type === 'SATELLITE' || type === 'COMBINED')) {
      this.pools.push({ node: name, name: 'DfltDisklessStorPool', providerKind: 'DISKLESS', props: {}, totalKib: null, freeKib: null, reservedKib: 0n, resourceCount: 0 });
    }
    return this;
  }

  pool(node: string, name: string, options: PoolOptions = {}): this {
    const total = options.total === undefined ? 100n * GiB : options.total;
    const free = options.free === undefined ? total : options.free;
    this.pools.push({
      node,
      name,
      providerKind: options.kind ?? 'LVM_THIN',
      props: options.props ?? {},
      totalKib: total,
      freeKib: free,
      reservedKib: options.reserved ?? 0n,
      resourceCount: options.count ?? 0,
      lastError: options.lastError ?? null,
    });
    return this;
  }

  /** A node with one pool named `pool` (default 'thin') in one call. */
  storage(name: string, nodeOptions: NodeOptions = {}, poolOptions: PoolOptions = {}, pool = 'thin'): this {
    return this.node(name, nodeOptions).pool(name, pool, poolOptions);
  }

  resource(resourceDefinition: string, node: string, options: Partial<Omit<SnapshotResource, 'resourceDefinition' | 'node'>> = {}): this {
    this.resources.push({ resourceDefinition, node, diskless: false, deleting: false, ...options });
    return this;
  }

  controller(props: Props): this {
    this.controllerProps = { ...this.controllerProps, ...props };
    return this;
  }

  snapshot(): PlacementSnapshot {
    return { nodes: [...this.nodes], pools: [...this.pools], resources: [...this.resources], controllerProps: { ...this.controllerProps } };
  }
}

export function cluster(): ClusterBuilder {
  return new ClusterBuilder();
}

/** A request for `r1` of 10 GiB with the given filter. */
export function request(filter: PlacementFilter = {}, overrides: Partial<PlacementRequest> = {}): PlacementRequest {
  return { resourceDefinition: 'r1', sizeKib: 10n * GiB, filter, ...overrides };
}

/** "node:pool" of each placement, in order. */
export function placed(result: { placements: { node: string; pool: string }[] }): string[] {
  return result.placements.map((p) => `${p.node}:${p.pool}`);
}

/** The reasons given for `node` (and `pool`, when given); fails the test when there is no such rejection. */
export function reasonsFor(result: { rejections: { node: string; pool?: string; reasons: string[] }[] }, node: string, pool?: string): string[] {
  const found = result.rejections.find((r) => r.node === node && r.pool === pool);
  if (!found) {
    throw new Error(`no rejection for ${node}${pool ? `:${pool}` : ''}; rejections: ${JSON.stringify(result.rejections, null, 1)}`);
  }
  return found.reasons;
}

/** Deterministic shuffle (a fixed LCG), to prove results do not depend on input order. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
