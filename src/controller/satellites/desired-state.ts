import type { EntityManager } from '@mikro-orm/postgresql';
import type { DesiredState } from '../../common/protocol/satellite.js';
import { Node } from '../../orm/entities/node.js';
import { StoragePool } from '../../orm/entities/storage-pool.js';
import { Volume } from '../../orm/entities/volume.js';

/**
 * Everything `nodeId` must realize, read in one consistent snapshot: its storage pools and the backing volumes of
 * its diskful resources that are not being deleted (a resource marked DELETE drops out, so its satellite removes
 * the volumes). The revision is the node's highest change-log entry.
 */
export async function buildDesiredState(em: EntityManager, nodeId: number): Promise<DesiredState> {
  return em.transactional(
    async (tx) => {
      const node = await tx.findOneOrFail(Node, nodeId);
      // One after the other: a transaction is one connection, which runs one statement at a time.
      const pools = await tx.find(StoragePool, { node: nodeId }, { orderBy: { nameKey: 'asc' } });
      const volumes = await tx.find(
        Volume,
        { resource: { node: nodeId }, storagePool: { providerKind: { $ne: 'DISKLESS' } } },
        { populate: ['resource.resourceDefinition', 'volumeDefinition', 'storagePool'], orderBy: { id: 'asc' } },
      );
      const revision = await nodeRevision(tx as EntityManager, nodeId);
      return {
        node: node.name,
        revision,
        pools: pools.map((p) => ({ name: p.name, providerKind: p.providerKind, props: { ...p.props } })),
        volumes: volumes
          .filter((v) => !v.resource.flags.includes('DELETE'))
          .map((v) => ({
            resource: v.resource.resourceDefinition.name,
            volumeNumber: v.volumeDefinition.volumeNumber,
            pool: v.storagePool.name,
            sizeKib: String(v.volumeDefinition.sizeKib),
          })),
      };
    },
    { isolationLevel: 'repeatable read' as never, readOnly: true, clear: true },
  );
}

/** The node's current desired-state revision: its highest change-log id (0 before the first change). */
export async function nodeRevision(em: EntityManager, nodeId: number): Promise<number> {
  const rows: { revision: string | null }[] = await em
    .getConnection()
    .execute('select max(id) as revision from node_change where node_id = ?', [nodeId], 'all', em.getTransactionContext());
  return Number(rows[0]?.revision ?? 0);
}
