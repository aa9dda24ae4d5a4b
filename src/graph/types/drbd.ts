import { nameKey } from '../../common/names.js';
import type { DrbdConnectionStateReport, DrbdPeerDeviceState, DrbdVolumeState } from '../../common/protocol/drbd.js';
import { VOLUME_STATES } from '../../common/vocabulary.js';
import { HEALTH_STATES, resourceHealth, volumeHealth, type Health } from '../../controller/drbd/health.js';
import type { StoredDrbdState } from '../../controller/drbd/state-store.js';
import { AsyncQueue, chainedReads } from '../../controller/events/queue.js';
import type { IResource } from '../../orm/entities/resource.js';
import { Volume, type IVolume } from '../../orm/entities/volume.js';
import { builder } from '../builder.js';
import type { GraphContext } from '../context.js';
import { createLoaders } from '../loaders.js';
import { ResourceRef, VolumeRef } from './refs.js';
import { SHARED_SUBSCRIPTION, type SharingRule } from '../shared-subscriptions.js';

/**
 * DRBD state in the API: per replica (Resource.drbd, Resource.health), per volume (Volume.drbd, Volume.health), the
 * `drbdState` subscription, and the `volumeEvents` lifecycle subscription. State names are DRBD's own (strings, so a
 * newer DRBD's states pass through); health is blockplane's aggregate (see controller/drbd/health.ts).
 */

export const HealthEnum = builder.enumType('Health', {
  values: HEALTH_STATES,
  description:
    'Aggregated DRBD health, worst first: UNKNOWN (no current state: node offline), FAILED (disk failed, disk lost, or no quorum), SPLIT_BRAIN (a connection is StandAlone), DEGRADED (a peer unreachable or a copy outdated), SYNCING, HEALTHY.',
});

function isDiskless(r: Pick<IResource, 'flags'>): boolean {
  return r.flags.includes('DRBD_DISKLESS') || r.flags.includes('DISKLESS');
}

async function names(r: IResource, ctx: GraphContext): Promise<{ resource: string; node: string }> {
  const [definition, node] = await Promise.all([ctx.loaders.resourceDefinition.load(r.resourceDefinition.id), ctx.loaders.node.load(r.node.id)]);
  return { resource: definition.name, node: node.name };
}

async function stateOf(r: IResource, ctx: GraphContext): Promise<StoredDrbdState | null> {
  const { resource, node } = await names(r, ctx);
  return ctx.service.events.drbd.get(resource, node);
}

/** A peer device seen from a volume: which peer, and that peer's copy of the volume. */
interface VolumeReplication extends DrbdPeerDeviceState {
  peer: string;
  peerNodeId: number;
  connectionState: string;
}

const PeerDeviceRef = builder.objectRef<DrbdPeerDeviceState>('DrbdPeerDevice').implement({
  description: 'One volume towards one peer.',
  fields: (t) => ({
    volumeNumber: t.exposeInt('volumeNumber'),
    replicationState: t.exposeString('replicationState', { description: 'DRBD replication state, e.g. Established, SyncSource, SyncTarget, Off.' }),
    peerDiskState: t.exposeString('peerDiskState', { description: "The peer's disk state, e.g. UpToDate, Inconsistent, DUnknown." }),
    donePercent: t.float({ nullable: true, description: 'Resync progress (0-100) while syncing.', resolve: (d) => d.donePercent }),
  }),
});

const ConnectionRef = builder.objectRef<DrbdConnectionStateReport>('DrbdConnection').implement({
  description: 'The DRBD connection from this replica to one peer.',
  fields: (t) => ({
    peer: t.exposeString('peer', { description: "The peer's node name." }),
    peerNodeId: t.exposeInt('peerNodeId'),
    connectionState: t.exposeString('connectionState', { description: 'DRBD connection state, e.g. Connected, Connecting, StandAlone.' }),
    peerRole: t.exposeString('peerRole'),
    peerDevices: t.field({ type: [PeerDeviceRef], resolve: (c) => c.peerDevices }),
  }),
});

const VolumeReplicationRef = builder.objectRef<VolumeReplication>('DrbdVolumeReplication').implement({
  description: "This volume towards one peer: the link and the peer's copy.",
  fields: (t) => ({
    peer: t.exposeString('peer'),
    peerNodeId: t.exposeInt('peerNodeId'),
    connectionState: t.exposeString('connectionState'),
    replicationState: t.exposeString('replicationState'),
    peerDiskState: t.exposeString('peerDiskState'),
    donePercent: t.float({ nullable: true, resolve: (d) => d.donePercent }),
  }),
});

interface VolumeView {
  stored: StoredDrbdState;
  volume: DrbdVolumeState;
  diskless: boolean;
}

const DrbdVolumeRef = builder.objectRef<VolumeView>('DrbdVolumeState').implement({
  description: 'A volume as DRBD reports it on its node.',
  fields: (t) => ({
    volumeNumber: t.int({ resolve: (v) => v.volume.volumeNumber }),
    minor: t.int({ nullable: true, resolve: (v) => v.volume.minor }),
    diskState: t.string({ description: 'Local disk state, e.g. UpToDate, Inconsistent, Diskless, Failed.', resolve: (v) => v.volume.diskState }),
    client: t.boolean({ description: 'A diskless replica that does not vote in quorum.', resolve: (v) => v.volume.client }),
    quorum: t.boolean({ nullable: true, resolve: (v) => v.volume.quorum }),
    health: t.field({ type: HealthEnum, resolve: (v) => volumeHealth(v.stored.state, v.volume.volumeNumber, v.diskless) }),
    replication: t.field({
      type: [VolumeReplicationRef],
      resolve: (v) =>
        v.stored.state.connections.map((c) => {
          const d = c.peerDevices.find((x) => x.volumeNumber === v.volume.volumeNumber);
          return {
            peer: c.peer,
            peerNodeId: c.peerNodeId,
            connectionState: c.connectionState,
            volumeNumber: v.volume.volumeNumber,
            replicationState: d?.replicationState ?? 'Off',
            peerDiskState: d?.peerDiskState ?? 'DUnknown',
            donePercent: d?.donePercent ?? null,
          };
        }),
    }),
  }),
});

interface ResourceView {
  stored: StoredDrbdState;
  diskless: boolean;
}

const DrbdResourceRef = builder.objectRef<ResourceView>('DrbdResourceState').implement({
  description: "A replica's DRBD state as its satellite last reported it (kept in memory; gone while the node is offline).",
  fields: (t) => ({
    backend: t.string({ description: "The satellite's DRBD backend: drbd-utils (the kernel module) or emulated (no kernel module; state emulated).", resolve: (r) => r.stored.backend }),
    role: t.string({ description: 'Primary, Secondary or Unknown.', resolve: (r) => r.stored.state.role }),
    suspended: t.boolean({ resolve: (r) => r.stored.state.suspended }),
    health: t.field({ type: HealthEnum, resolve: (r) => resourceHealth(r.stored.state, r.diskless) }),
    volumes: t.field({ type: [DrbdVolumeRef], resolve: (r) => r.stored.state.volumes.map((volume) => ({ stored: r.stored, volume, diskless: r.diskless })) }),
    connections: t.field({ type: [ConnectionRef], resolve: (r) => r.stored.state.connections }),
    updatedAt: t.field({ type: 'DateTime', description: 'When the controller received this state.', resolve: (r) => r.stored.at }),
  }),
});

builder.objectField(ResourceRef, 'drbd', (t) =>
  t.field({
    type: DrbdResourceRef,
    nullable: true,
    description: 'Live DRBD state of this replica; null while unknown (node offline, or DRBD not up yet).',
    resolve: async (r, _a, ctx) => {
      const stored = await stateOf(r, ctx);
      return stored ? { stored, diskless: isDiskless(r) } : null;
    },
  }),
);

builder.objectField(ResourceRef, 'health', (t) =>
  t.field({ type: HealthEnum, description: 'Aggregated DRBD health of this replica (UNKNOWN while its node is offline).', resolve: async (r, _a, ctx) => resourceHealth((await stateOf(r, ctx))?.state, isDiskless(r)) }),
);

async function volumeView(v: IVolume, ctx: GraphContext): Promise<VolumeView | null> {
  const [resource, vd] = await Promise.all([ctx.loaders.resource.load(v.resource.id), ctx.loaders.volumeDefinition.load(v.volumeDefinition.id)]);
  const stored = await stateOf(resource, ctx);
  const volume = stored?.state.volumes.find((x) => x.volumeNumber === vd.volumeNumber);
  return stored && volume ? { stored, volume, diskless: isDiskless(resource) } : null;
}

builder.objectField(VolumeRef, 'drbd', (t) =>
  t.field({ type: DrbdVolumeRef, nullable: true, description: 'Live DRBD state of this volume; null while unknown.', resolve: (v, _a, ctx) => volumeView(v, ctx) }),
);

builder.objectField(VolumeRef, 'health', (t) =>
  t.field({
    type: HealthEnum,
    description: 'Aggregated DRBD health of this volume (UNKNOWN while its node is offline).',
    resolve: async (v, _a, ctx) => {
      const view = await volumeView(v, ctx);
      return view ? volumeHealth(view.stored.state, view.volume.volumeNumber, view.diskless) : ('UNKNOWN' as Health);
    },
  }),
);

// ---- drbdState subscription -------------------------------------------------------------------------------------

interface DrbdStateEvent {
  resource: string;
  node: string;
  diskless: boolean;
  stored: StoredDrbdState | null;
  at: Date;
}

const DrbdStateEventRef = builder.objectRef<DrbdStateEvent>('DrbdStateEvent').implement({
  description: "A replica's DRBD state: the current one when the subscription starts, then every change.",
  fields: (t) => ({
    resource: t.exposeString('resource'),
    node: t.exposeString('node'),
    health: t.field({ type: HealthEnum, resolve: (e) => resourceHealth(e.stored?.state, e.diskless) }),
    drbd: t.field({ type: DrbdResourceRef, nullable: true, description: 'Null when the state is not known (node offline, resource down).', resolve: (e) => (e.stored ? { stored: e.stored, diskless: e.diskless } : null) }),
    at: t.field({ type: 'DateTime', resolve: (e) => e.at }),
  }),
});

/**
 * Current state first, then changes, with no gap and nothing out of order: the listener is registered before the
 * replicas are read from the database; changes arriving during that read are held back, then the current states are
 * taken from the in-memory store in one synchronous step (so they include every held-back change, which is dropped),
 * and from then on changes go out as they come.
 */
/** One replica's identity in a subscription's queue (a slow subscriber keeps the newest state per key). */
const replicaKey = (resource: string, node: string) => `${nameKey(node)}/${nameKey(resource)}`;

function drbdStateStream(ctx: GraphContext, filter: { resource: string | null; node: string | null }, changesOnly: boolean): AsyncIterableIterator<DrbdStateEvent> {
  const store = ctx.service.events.drbd;
  const diskless = new Map<string, boolean>();
  const key = replicaKey;
  const matches = (resource: string, node: string) => (!filter.resource || nameKey(filter.resource) === nameKey(resource)) && (!filter.node || nameKey(filter.node) === nameKey(node));
  let live = false;
  let remove = (): void => undefined;
  const queue = new AsyncQueue<DrbdStateEvent>(() => remove());
  remove = store.listen((change) => {
    if (!live || !matches(change.resource, change.node)) return;
    // Latest per replica: a subscriber that falls behind (a resync changes state many times a second) gets each
    // replica's newest state, never a stale one because the final event was dropped.
    queue.pushLatest(key(change.resource, change.node), {
      resource: change.resource,
      node: change.node,
      diskless: change.state?.state.diskless ?? diskless.get(key(change.resource, change.node)) ?? false,
      stored: change.state,
      at: change.at,
    });
  });
  if (changesOnly) {
    live = true;
    return queue;
  }
  void (async () => {
    // Plain rows: every new cluster-wide subscriber reads every replica, and hydrating them as entities made 1,000
    // dashboards subscribing to a 9,000-replica cluster time out (S5 benchmark).
    const conditions: string[] = [];
    const params: string[] = [];
    if (filter.resource) (conditions.push('d.name_key = ?'), params.push(nameKey(filter.resource)));
    if (filter.node) (conditions.push('n.name_key = ?'), params.push(nameKey(filter.node)));
    const replicas = await ctx.em.fork().getConnection().execute<{ resource: string; node: string; flags: string[] }[]>(
      `select d.name as resource, n.name as node, r.flags from resource r join resource_definition d on d.id = r.resource_definition_id
         join node n on n.id = r.node_id ${conditions.length ? `where ${conditions.join(' and ')}` : ''} order by r.id`,
      params,
    );
    // From here to `live = true` nothing awaits: the store cannot change in between.
    const at = new Date();
    const seen = new Set<string>();
    for (const r of replicas) {
      const k = key(r.resource, r.node);
      seen.add(k);
      diskless.set(k, isDiskless(r));
      queue.push({ resource: r.resource, node: r.node, diskless: isDiskless(r), stored: store.get(r.resource, r.node), at });
    }
    // States of resources the database no longer has (being torn down) are current state too.
    for (const s of store.list({ resource: filter.resource, node: filter.node })) {
      if (!seen.has(key(s.resource, s.node))) queue.push({ resource: s.resource, node: s.node, diskless: s.state.diskless ?? false, stored: s, at });
    }
    live = true;
  })().catch(() => queue.end());
  return queue;
}

builder.subscriptionFields((t) => ({
  drbdState: t.field({
    type: DrbdStateEventRef,
    description:
      'DRBD state (connections, disk and replication states, sync progress, health) of replicas: of one resource, of one node, of one replica, or cluster-wide. Current states first, then every change. WebSocket only.',
    args: {
      resource: t.arg.string({ description: 'Only replicas of this resource definition.' }),
      node: t.arg.string({ description: 'Only replicas on this node.' }),
      changesOnly: t.arg.boolean({
        description: 'Skip the current states and send only changes from now on (for monitors that keep their own state; a cluster-wide snapshot is one event per replica).',
      }),
    },
    subscribe: (_r, args, ctx) => drbdStateStream(ctx, { resource: args.resource ?? null, node: args.node ?? null }, args.changesOnly ?? false),
    resolve: (event) => event,
    // Changes only: a late subscriber is owed no snapshot, so identical subscriptions share one execution.
    extensions: {
      [SHARED_SUBSCRIPTION]: {
        when: (args) => args.changesOnly === true,
        latestKey: (event) => replicaKey((event as DrbdStateEvent).resource, (event as DrbdStateEvent).node),
      } satisfies SharingRule,
    },
  }),
}));

// ---- volumeEvents subscription ----------------------------------------------------------------------------------

const VOLUME_LIFECYCLE = [...VOLUME_STATES, 'DELETED'] as const;
const VolumeLifecycleEnum = builder.enumType('VolumeLifecycle', {
  values: VOLUME_LIFECYCLE,
  description: 'A volume going PENDING -> CREATING -> CREATED (or FAILED, with the error) -> DELETING -> DELETED.',
});

interface VolumeEvent {
  resource: string;
  node: string;
  volumeNumber: number;
  state: (typeof VOLUME_LIFECYCLE)[number];
  error: string | null;
  volume: IVolume | null;
  at: Date;
}

const VolumeEventRef = builder.objectRef<VolumeEvent>('VolumeEvent').implement({
  description: 'A step in the life of a volume on its node.',
  fields: (t) => ({
    resource: t.exposeString('resource'),
    node: t.exposeString('node'),
    volumeNumber: t.exposeInt('volumeNumber'),
    state: t.field({ type: VolumeLifecycleEnum, resolve: (e) => e.state }),
    error: t.string({ nullable: true, description: "The satellite's error when FAILED.", resolve: (e) => e.error }),
    volume: t.field({ type: VolumeRef, nullable: true, description: 'The volume now (null once DELETED).', resolve: (e) => e.volume }),
    at: t.field({ type: 'DateTime', resolve: (e) => e.at }),
  }),
});

/**
 * Volumes' lifecycle: their current states first, then each change. Like nodeStatus, the listener is registered
 * before the first read and every read is chained after the previous one, so events come out in commit order and
 * none is lost (a change during the first read may show twice).
 */
function volumeEventStream(ctx: GraphContext, filter: { resource: string | null; node: string | null }): AsyncIterableIterator<VolumeEvent> {
  const matches = (resource: string, node: string) => (!filter.resource || nameKey(filter.resource) === nameKey(resource)) && (!filter.node || nameKey(filter.node) === nameKey(node));
  let remove = (): void => undefined;
  const queue = new AsyncQueue<VolumeEvent>(() => remove());
  const enqueue = chainedReads(queue);
  const read = async (where: Record<string, unknown>): Promise<VolumeEvent[]> => {
    const volumes = await ctx.em.fork().find(Volume, where, { populate: ['resource.resourceDefinition', 'resource.node', 'volumeDefinition'], orderBy: { id: 'asc' } });
    const at = new Date();
    return volumes.map((v) => ({
      resource: v.resource.resourceDefinition.name,
      node: v.resource.node.name,
      volumeNumber: v.volumeDefinition.volumeNumber,
      state: v.state,
      error: v.lastError ?? null,
      volume: v,
      at,
    }));
  };
  remove = ctx.service.events.listen((e) => {
    if (e.kind !== 'VOLUME' || e.path.length < 3 || !matches(e.path[0]!, e.path[1]!)) return;
    const [resource, node, number] = e.path as [string, string, string];
    if (e.action === 'DELETED') {
      enqueue(async () => [{ resource, node, volumeNumber: Number(number), state: 'DELETED', error: null, volume: null, at: e.at }]);
      return;
    }
    enqueue(() => read({ uuid: e.uuid }));
  });
  const where: Record<string, unknown> = {};
  if (filter.resource) where.resource = { resourceDefinition: { nameKey: nameKey(filter.resource) } };
  if (filter.node) where.resource = { ...(where.resource as object | undefined), node: { nameKey: nameKey(filter.node) } };
  enqueue(() => read(where));
  return queue;
}

builder.subscriptionFields((t) => ({
  volumeEvents: t.field({
    type: VolumeEventRef,
    description: 'Volume lifecycle (PENDING, CREATING, CREATED or FAILED with the error, DELETING, DELETED) of one resource, one node, or all. Current states first. WebSocket only.',
    args: { resource: t.arg.string(), node: t.arg.string() },
    subscribe: (_r, args, ctx) => volumeEventStream(ctx, { resource: args.resource ?? null, node: args.node ?? null }),
    resolve: (event, _a, ctx) => {
      // Fresh loaders per event, or nested fields would show what the first event saw.
      ctx.em = ctx.em.fork();
      ctx.loaders = createLoaders(ctx.em);
      return event;
    },
  }),
}));
