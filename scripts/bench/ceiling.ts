/**
 * The database ceiling for spawns: the rate at which the database commits exactly the rows one spawn writes (a
 * resource definition, its volume definition, three resources with three volumes, three change-log entries, a
 * placement job with three job nodes), one transaction per spawn, with plain SQL from a pool of connections and
 * none of the controller's work (no GraphQL, no ORM, no placement, no locks). Spawn throughput divided by this rate is
 * how much of the database's capacity the controller turns into spawns. Benchmark tooling only.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { pool } from './lib.js';

export interface CeilingResult {
  transactions: number;
  concurrency: number;
  seconds: number;
  perSecond: number;
  errors: number;
}

/**
 * Runs `transactions` spawn-shaped transactions against the controller's database at `url` (its schema, its nodes
 * and pools: the rows are real rows that the controller would write; they are deleted afterwards).
 */
export async function measureCeiling(url: string, options: { transactions: number; concurrency: number; connections?: number }): Promise<CeilingResult> {
  const db = new pg.Pool({ connectionString: url, max: options.connections ?? options.concurrency });
  try {
    const group = (await db.query<{ id: number }>(`select id from resource_group where name_key = 'DFLTRSCGRP'`)).rows[0]!.id;
    const pools = (await db.query<{ id: number; node_id: number }>(`select id, node_id from storage_pool where provider_kind <> 'DISKLESS' order by node_id limit 3`)).rows;
    if (pools.length < 3) throw new Error('the ceiling needs three nodes with a storage pool');
    const tag = randomUUID().slice(0, 8);
    const minorBase = 900_000;
    const started = performance.now();
    const results = await pool(options.transactions, options.concurrency, async (i) => {
      const client = await db.connect();
      try {
        await client.query('begin');
        const rd = await client.query<{ id: number }>(
          `insert into resource_definition (uuid, created_at, updated_at, name, resource_group_id, drbd_secret) values ($1, now(), now(), $2, $3, $4) returning id`,
          [randomUUID(), `ceil-${tag}-${i}`, group, 'x'.repeat(20)],
        );
        const vd = await client.query<{ id: number }>(
          `insert into volume_definition (uuid, created_at, updated_at, resource_definition_id, volume_number, size_kib, drbd_minor) values ($1, now(), now(), $2, 0, 1048576, $3) returning id`,
          [randomUUID(), rd.rows[0]!.id, minorBase + i],
        );
        for (const [n, p] of pools.entries()) {
          const r = await client.query<{ id: number }>(
            `insert into resource (uuid, created_at, updated_at, resource_definition_id, node_id, drbd_node_id, drbd_port) values ($1, now(), now(), $2, $3, $4, null) returning id`,
            [randomUUID(), rd.rows[0]!.id, p.node_id, n],
          );
          await client.query(`insert into volume (uuid, created_at, updated_at, resource_id, volume_definition_id, storage_pool_id) values ($1, now(), now(), $2, $3, $4)`, [
            randomUUID(),
            r.rows[0]!.id,
            vd.rows[0]!.id,
            p.id,
          ]);
        }
        const changes = await client.query<{ id: string; node_id: number }>(
          `insert into node_change (node_id, reason, created_at) select unnest($1::int[]), 'ceiling', now() returning id, node_id`,
          [pools.map((p) => p.node_id)],
        );
        const job = await client.query<{ id: number }>(
          `insert into placement_job (uuid, created_at, updated_at, kind, state, resource_definition) values ($1, now(), now(), 'SPAWN', 'PLACED', $2) returning id`,
          [randomUUID(), `ceil-${tag}-${i}`],
        );
        for (const c of changes.rows) await client.query(`insert into placement_job_node (job_id, node_id, revision) values ($1, $2, $3)`, [job.rows[0]!.id, c.node_id, c.id]);
        await client.query('commit');
      } catch (error) {
        await client.query('rollback').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    });
    const seconds = (performance.now() - started) / 1000;
    const errors = results.filter((r) => r instanceof Error).length;
    // Remove what the measurement wrote.
    await db.query(`delete from placement_job_node where job_id in (select id from placement_job where resource_definition like $1)`, [`ceil-${tag}-%`]);
    await db.query(`delete from placement_job where resource_definition like $1`, [`ceil-${tag}-%`]);
    await db.query(`delete from node_change where reason = 'ceiling'`);
    await db.query(`delete from volume where resource_id in (select r.id from resource r join resource_definition d on d.id = r.resource_definition_id where d.name like $1)`, [`ceil-${tag}-%`]);
    await db.query(`delete from resource where resource_definition_id in (select id from resource_definition where name like $1)`, [`ceil-${tag}-%`]);
    await db.query(`delete from volume_definition where resource_definition_id in (select id from resource_definition where name like $1)`, [`ceil-${tag}-%`]);
    await db.query(`delete from resource_definition where name like $1`, [`ceil-${tag}-%`]);
    return { transactions: options.transactions, concurrency: options.concurrency, seconds, perSecond: (options.transactions - errors) / seconds, errors };
  } finally {
    await db.end();
  }
}
