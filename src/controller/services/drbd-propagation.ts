import type { EntityManager } from '@mikro-orm/postgresql';
import type { Props } from '../../common/props/keys.js';
import type { Touch } from '../transaction.js';

/**
 * DRBD configuration that lives outside a node's own rows: the inherited `DrbdOptions/*` properties (controller,
 * resource group, definition, resource) and the peers' addresses. When it changes, every node running an affected
 * replica must get its new desired state, or the change would only reach DRBD with some unrelated later change.
 */

/** Whether any `DrbdOptions/*` property differs between `before` and `after`. */
export function drbdOptionsChanged(before: Props, after: Props): boolean {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)].filter((k) => k.startsWith('DrbdOptions/')));
  for (const key of keys) if (before[key] !== after[key]) return true;
  return false;
}

/** Which replicas' nodes to move: of some definitions, of a group's definitions, of every definition, or every peer of a node. */
export type ReplicaScope = { definitionIds: number[] } | { groupId: number } | { all: true } | { peersOfNode: number };

/** Moves the revision (after commit, see Touch) of every node holding a replica, not being deleted, in `scope`. */
export async function touchReplicaNodes(em: EntityManager, touch: Touch, scope: ReplicaScope, reason: string): Promise<void> {
  let sql = `select distinct r.node_id from resource r where not ('DELETE' = any(r.flags))`;
  let params: unknown[] = [];
  if ('definitionIds' in scope) {
    if (scope.definitionIds.length === 0) return;
    sql += ` and r.resource_definition_id in (${scope.definitionIds.map(() => '?').join(', ')})`;
    params = scope.definitionIds;
  } else if ('groupId' in scope) {
    sql += ` and r.resource_definition_id in (select id from resource_definition where resource_group_id = ?)`;
    params = [scope.groupId];
  } else if ('peersOfNode' in scope) {
    sql += ` and r.resource_definition_id in (select resource_definition_id from resource where node_id = ?)`;
    params = [scope.peersOfNode];
  }
  const rows: { node_id: number }[] = await em.getConnection().execute(sql, params, 'all', em.getTransactionContext());
  for (const row of rows) touch({ id: row.node_id }, reason, { afterCommit: true });
}
