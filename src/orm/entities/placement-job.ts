import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { JOB_KINDS, JOB_STATES } from '../../common/vocabulary.js';
import { baseProperties } from './base.js';
import { Node } from './node.js';

/**
 * A placement job: recorded in the same transaction as the records a spawn, autoplace, delete or grow writes, and
 * finished when every affected node has acknowledged the revision that realizes it. Lives in the database, so it
 * survives a controller restart and continues with the next reports.
 */
export const PlacementJob = defineEntity({
  name: 'PlacementJob',
  tableName: 'placement_job',
  properties: {
    ...baseProperties,
    kind: p.enum([...JOB_KINDS]),
    state: p.enum([...JOB_STATES]),
    /** The definition it is about (kept as a name: the job outlives a deleted definition). */
    resourceDefinition: p.string().length(253),
    /** Why it failed, or what it is waiting for. */
    reason: p.text().nullable(),
    finishedAt: p.datetime().nullable(),
  },
  indexes: [
    { name: 'placement_job_state_idx', properties: ['state'] },
    { name: 'placement_job_definition_idx', properties: ['resourceDefinition'] },
  ],
});
export type IPlacementJob = InferEntity<typeof PlacementJob>;

/** A node a job waits for, and the revision that node must acknowledge. */
export const PlacementJobNode = defineEntity({
  name: 'PlacementJobNode',
  tableName: 'placement_job_node',
  properties: {
    job: () => p.manyToOne(PlacementJob).primary().deleteRule('cascade'),
    node: () => p.manyToOne(Node).primary().deleteRule('cascade'),
    revision: p.bigint('number'),
  },
  primaryKeys: ['job', 'node'],
  // By node and revision: a report looks up the jobs whose revisions it acknowledged (a range), not all of its node's.
  indexes: [{ name: 'placement_job_node_node_revision_idx', properties: ['node', 'revision'] }],
});
export type IPlacementJobNode = InferEntity<typeof PlacementJobNode>;
