import type { PlacementResult } from '../../controller/autoplacer/types.js';
import { placementPlan } from '../../controller/services/placement.js';
import type { KiB } from '../../common/sizes.js';
import { builder } from '../builder.js';
import { SelectFilterInput } from './resource-group.js';

type Plan = PlacementResult & { resourceDefinition: string; sizeKib: KiB };

const PlannedReplicaRef = builder.objectRef<PlacementResult['placements'][number]>('PlannedReplica').implement({
  description: 'A diskful replica the autoplacer would create.',
  fields: (t) => ({
    node: t.exposeString('node'),
    storagePool: t.string({ resolve: (p) => p.pool }),
    score: t.float({ description: 'Weighted strategy score of the pool (higher is preferred).', resolve: (p) => p.score }),
  }),
});

const PlannedDisklessRef = builder.objectRef<PlacementResult['disklessPlacements'][number]>('PlannedDisklessReplica').implement({
  description: 'A diskless replica the autoplacer would add: a quorum tie-breaker, or one of diskless-on-remaining.',
  fields: (t) => ({
    node: t.exposeString('node'),
    storagePool: t.string({ resolve: (p) => p.pool }),
    tieBreaker: t.exposeBoolean('tieBreaker'),
  }),
});

const RejectionRef = builder.objectRef<PlacementResult['rejections'][number]>('PlacementRejection').implement({
  description: 'A node (or one of its pools) the autoplacer did not choose, and every reason why.',
  fields: (t) => ({
    node: t.exposeString('node'),
    storagePool: t.string({ nullable: true, resolve: (r) => r.pool ?? null }),
    reasons: t.exposeStringList('reasons'),
    codes: t.stringList({ description: 'Stable reason codes (OFFLINE, NOT_ENOUGH_SPACE, REPLICAS_ON_DIFFERENT, ...).', resolve: (r) => r.codes }),
  }),
});

export const PlacementPlanRef = builder.objectRef<Plan>('PlacementPlan').implement({
  description: 'What the autoplacer would do now, without doing it.',
  fields: (t) => ({
    ok: t.exposeBoolean('ok', { description: 'Whether every needed replica found a place.' }),
    resourceDefinition: t.exposeString('resourceDefinition'),
    sizeKib: t.field({ type: 'KiB', description: 'Space each diskful replica needs (sum of the volume sizes).', resolve: (p) => p.sizeKib }),
    needed: t.exposeInt('needed', { description: 'Diskful replicas to add.' }),
    existingDiskful: t.exposeInt('existingDiskful'),
    replicas: t.field({ type: [PlannedReplicaRef], resolve: (p) => p.placements }),
    disklessReplicas: t.field({ type: [PlannedDisklessRef], resolve: (p) => p.disklessPlacements }),
    rejections: t.field({ type: [RejectionRef], resolve: (p) => p.rejections }),
    explanation: t.exposeString('explanation', { description: 'One paragraph: what was needed, what was found, the main reasons.' }),
  }),
});

const PlacementPlanInput = builder.inputType('PlacementPlanInput', {
  fields: (t) => ({
    resourceDefinition: t.string({ description: 'Plan more replicas for this existing definition (its group filter and volume sizes).' }),
    resourceGroup: t.string({ description: 'Or plan a spawn from this group (default DfltRscGrp)...' }),
    volumeSizes: t.field({ type: ['KiB'], description: '... of a new definition with these volume sizes.' }),
    selectFilter: t.field({ type: SelectFilterInput, description: "Overrides of the group's select filter for this plan." }),
    additionalReplicas: t.int({ description: 'Add this many diskful replicas regardless of the place count.' }),
  }),
});

builder.queryFields((t) => ({
  placementPlan: t.field({
    type: PlacementPlanRef,
    description: 'A dry run of the autoplacer: the nodes and pools it would choose now and, for every other node or pool, why not. Writes nothing.',
    args: { input: t.arg({ type: PlacementPlanInput, required: true }) },
    resolve: (_r, { input }, ctx) => placementPlan(ctx.em, input),
  }),
}));
