import { randomBytes } from 'node:crypto';
import type { Props } from '../../common/props/keys.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { INode } from '../../orm/entities/node.js';
import type { IResourceDefinition } from '../../orm/entities/resource-definition.js';
import { DEFAULT_MINOR_RANGE, DEFAULT_TCP_PORT_RANGE, exhausted, FreeNumbers, lowestFree, NODE_ID_RANGE, rangeFrom } from './ranges.js';
import { ControllerConfig } from '../../orm/entities/controller-config.js';

/**
 * DRBD number allocation inside a service's transaction. Numbers are derived from the rows that hold them (a
 * resource's port and node id, a volume definition's minor), so deleting the row frees the number: nothing leaks.
 * Races are ruled out by locks taken before reading what is used, and unique constraints stay the last word:
 * - ports are per node: an advisory lock per node (openPortAllocator);
 * - node ids are per definition: the caller holds the definition row lock (getResourceDefinition);
 * - minors are cluster-wide: a transaction-scoped advisory lock serializes their allocation.
 */

async function rows<T>(em: EntityManager, sql: string, params: unknown[]): Promise<T[]> {
  return em.getConnection().execute(sql, params, 'all', em.getTransactionContext());
}

/**
 * The free intervals between used numbers, per group: `used` is a query of (grp, n) rows, with one sentinel row per
 * group just below the lowest number that may be free; the last interval of a group runs up to `ceiling`. The
 * database walks the used numbers; a few rows come back instead of every number in use.
 */
function freeIntervals<G>(em: EntityManager, used: string, params: unknown[], ceiling: number): Promise<{ grp: G; lo: number; hi: number }[]> {
  return rows(
    em,
    `select grp, lo, hi from (
       select grp, n + 1 as lo, coalesce(lead(n) over (partition by grp order by n) - 1, ${Math.trunc(ceiling)}) as hi from (${used}) u
     ) g where lo <= hi order by grp, lo`,
    params,
  );
}

async function controllerProps(em: EntityManager) {
  return (await em.findOneOrFail(ControllerConfig, { id: 1 })).props;
}

/** What the port allocator needs of a node (an entity or a plain row). */
type PortNode = Pick<INode, 'id' | 'name' | 'props'>;

/** The lowest free DRBD TCP port on `node` (range: node, then controller `TcpPortAutoRange`, default 7000-7999). */
export async function allocateTcpPort(em: EntityManager, node: INode): Promise<number> {
  return (await openPortAllocator(em, [node])).take(node);
}

/**
 * Hands out DRBD TCP ports on several nodes from one read of the ports they use: for a transaction that places many
 * replicas (a batch of spawns). `controllerPropsRead`: the controller's properties if the caller has read them already. Port allocation on a node is serialized by a transaction-scoped advisory lock per
 * node (taken here, in node id order), whatever row lock the caller holds on the node.
 */
export async function openPortAllocator(em: EntityManager, nodes: readonly PortNode[], controllerPropsRead?: Props): Promise<{ take(node: PortNode): number }> {
  const controller = controllerPropsRead ?? (await controllerProps(em));
  const gaps = new Map<number, { lo: number; hi: number }[]>(nodes.map((n) => [n.id, []]));
  if (nodes.length > 0) {
    const ids = [...new Set(nodes.map((n) => n.id))].sort((a, b) => a - b);
    const list = ids.map(() => '?').join(', ');
    await rows(em, `select count(pg_advisory_xact_lock(hashtext('blockplane:drbd-port'), n.id)) from (select id from node where id in (${list}) order by id) n`, ids);
    // The free ports of each node (port 0 stands for "below every port").
    const free = await freeIntervals<number>(
      em,
      `select node_id as grp, drbd_port as n from resource where node_id in (${list}) and drbd_port is not null union all select id, 0 from node where id in (${list})`,
      [...ids, ...ids],
      65535,
    );
    for (const r of free) gaps.get(Number(r.grp))?.push({ lo: r.lo, hi: r.hi });
  }
  const free = new Map<number, FreeNumbers>();
  return {
    take(node) {
      const range = rangeFrom('TcpPortAutoRange', [{ name: `node ${node.name}`, props: node.props }, { name: 'the controller', props: controller }], DEFAULT_TCP_PORT_RANGE);
      const nodeGaps = gaps.get(node.id);
      if (!nodeGaps) throw new Error(`port allocator: node ${node.name} was not opened`);
      let numbers = free.get(node.id);
      if (!numbers) free.set(node.id, (numbers = new FreeNumbers(range, nodeGaps)));
      const port = numbers.take();
      if (port === null) {
        throw exhausted(`DRBD TCP port on node ${node.name}`, range, `Widen the range with the property TcpPortAutoRange on node ${node.name} or on the controller (e.g. 7000-8999), or delete resources on that node.`);
      }
      return port;
    },
  };
}

/** The lowest free DRBD node id (0-31) among the replicas of `definition`. */
export async function allocateNodeId(em: EntityManager, definition: IResourceDefinition): Promise<number> {
  const used = await rows<{ drbd_node_id: number }>(em, 'select drbd_node_id from resource where resource_definition_id = ? and drbd_node_id is not null', [definition.id]);
  const id = lowestFree(NODE_ID_RANGE, used.map((r) => r.drbd_node_id));
  if (id === null) {
    throw exhausted(`DRBD node id for ${definition.name}`, { ...NODE_ID_RANGE, source: 'DRBD 9 limit' }, 'A DRBD resource has at most 32 replicas: delete a replica of this definition first.');
  }
  return id;
}

/** The lowest free minor the last allocation in this process found (a hint, see openMinorAllocator). */
let minorFloor = 0;

/** `count` free DRBD minors (controller `MinorNrAutoRange`, default 1000-49999), cluster-wide. */
export async function allocateMinors(em: EntityManager, count: number): Promise<number[]> {
  if (count === 0) return [];
  return (await openMinorAllocator(em)).take(count);
}

/**
 * Hands out DRBD minors from one read of those in use, until the transaction ends: for a transaction that creates
 * many volume definitions (a batch of spawns). `take` is all-or-nothing.
 */
export async function openMinorAllocator(em: EntityManager, controllerPropsRead?: Props): Promise<{ take(count: number): number[] }> {
  // Serializes minor allocation across concurrent transactions until they commit.
  await rows(em, "select pg_advisory_xact_lock(hashtext('blockplane:drbd-minor'))", []);
  const range = rangeFrom('MinorNrAutoRange', [{ name: 'the controller', props: controllerPropsRead ?? (await controllerProps(em)) }], DEFAULT_MINOR_RANGE);
  // Where the last allocation found the lowest free minor. If every number below it is still in use (counted: minors
  // are unique, so the count says it exactly), only the numbers above it are walked: at 20,000 minors, walking them all
  // was the largest database cost of a single spawn. Otherwise (a definition deleted meanwhile, another range, another
  // database) the whole range is walked, so the hint only ever saves work, never changes the answer.
  let from = range.low;
  const hint = Math.min(Math.max(minorFloor, range.low), range.high + 1);
  if (hint > range.low) {
    const [row] = await rows<{ used: string }>(em, 'select count(*) as used from volume_definition where drbd_minor >= ? and drbd_minor < ?', [range.low, hint]);
    if (Number(row?.used ?? -1) === hint - range.low) from = hint;
  }
  const gaps = await freeIntervals<number>(
    em,
    'select 0 as grp, drbd_minor as n from volume_definition where drbd_minor between ? and ? union all select 0, ?::int',
    [from, range.high, from - 1],
    range.high,
  );
  minorFloor = gaps[0]?.lo ?? range.high + 1;
  const free = new FreeNumbers(range, gaps);
  return {
    take(count) {
      if (free.available < count) {
        throw exhausted('DRBD minor number', range, 'Widen the range with the controller property MinorNrAutoRange (e.g. 1000-99999), or delete volume definitions.');
      }
      return Array.from({ length: count }, () => free.take()!);
    },
  };
}

/** A new DRBD shared secret: base64 of 15 random bytes, 20 characters (LINSTOR's format). */
export function newDrbdSecret(): string {
  return randomBytes(15).toString('base64');
}
