import { JOB_KINDS, JOB_STATES } from '../../common/vocabulary.js';
import { autoplaceResourceDefinition, spawnResources, type PlacementOutcome } from '../../controller/services/spawn.js';
import { listPlacementJobs } from '../../controller/queries.js';
import { PlacementJob, type IPlacementJob } from '../../orm/entities/placement-job.js';
import { builder } from '../builder.js';
import { connection, connectionFields, PropertyInput } from './common.js';
import { PlacementPlanRef } from './placement.js';
import { ResourceDefinitionRef } from './refs.js';
import { SelectFilterInput } from './resource-group.js';

const JobKindEnum = builder.enumType('PlacementJobKind', { values: JOB_KINDS });
const JobStateEnum = builder.enumType('PlacementJobState', {
  values: JOB_STATES,
  description: 'PLACED: records written and nodes chosen (placement runs inside the mutation, so jobs start here); REALIZING: sent to the satellites; DONE: every node acknowledged; FAILED: a satellite reported an error (it retries; a later acknowledgement still ends in DONE). QUEUED is reserved for deferred placement.',
});

const JobNodeRef = builder.objectRef<{ node: string; revision: number; appliedRevision: number }>('PlacementJobNode').implement({
  description: 'A node a job waits for.',
  fields: (t) => ({
    node: t.exposeString('node'),
    revision: t.exposeInt('revision', { description: 'The revision this node must acknowledge.' }),
    done: t.boolean({ resolve: (n) => n.appliedRevision >= n.revision }),
  }),
});

export const PlacementJobRef = builder.objectRef<IPlacementJob>('PlacementJob').implement({
  description: 'A spawn, autoplace, create, delete or grow, followed until every affected satellite has realized it.',
  fields: (t) => ({
    uuid: t.exposeID('uuid'),
    kind: t.expose('kind', { type: JobKindEnum }),
    state: t.expose('state', { type: JobStateEnum }),
    resourceDefinition: t.exposeString('resourceDefinition'),
    reason: t.string({ nullable: true, description: 'Why it failed, or what it waits for.', resolve: (j) => j.reason ?? null }),
    nodes: t.field({
      type: [JobNodeRef],
      resolve: async (j, _a, ctx) =>
        Promise.all(
          (await ctx.loaders.jobNodesByJob.load(j.id)).map(async (n) => {
            const node = await ctx.loaders.node.load(n.node.id);
            return { node: node.name, revision: n.revision, appliedRevision: node.appliedRevision };
          }),
        ),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    finishedAt: t.field({ type: 'DateTime', nullable: true, resolve: (j) => j.finishedAt ?? null }),
  }),
});

builder.objectField(ResourceDefinitionRef, 'placementJobs', (t) =>
  t.field({
    type: [PlacementJobRef],
    description: "This definition's placement jobs, newest first (a grow, delete or autoplace answers with the definition: its newest job is the one it started).",
    args: { last: t.arg.int({ description: 'At most this many (default 10).' }) },
    resolve: async (d, args, ctx) => (await ctx.loaders.jobsByDefinition.load(d.name)).slice(0, Math.max(0, args.last ?? 10)),
  }),
);

const OutcomeRef = builder.objectRef<PlacementOutcome>('PlacementOutcome').implement({
  description: 'What a spawn or autoplace wrote: the definition, its job, and the autoplacer decision behind it.',
  fields: (t) => ({
    resourceDefinition: t.field({ type: ResourceDefinitionRef, resolve: (o) => o.resourceDefinition }),
    job: t.field({ type: PlacementJobRef, nullable: true, description: 'null when nothing was placed (definitionsOnly).', resolve: (o) => o.job }),
    plan: t.field({
      type: PlacementPlanRef,
      nullable: true,
      resolve: (o) => (o.plan ? { ...o.plan, resourceDefinition: o.resourceDefinition.name } : null),
    }),
  }),
});

const JobFilterInput = builder.inputType('PlacementJobFilter', {
  fields: (t) => ({
    states: t.field({ type: [JobStateEnum] }),
    resourceDefinitions: t.stringList(),
    nodes: t.stringList({ description: 'Jobs that wait (or waited) for these nodes.' }),
  }),
});

builder.queryFields((t) => ({
  placementJob: t.field({
    type: PlacementJobRef,
    nullable: true,
    args: { uuid: t.arg.id({ required: true }) },
    resolve: (_r, { uuid }, ctx) => ctx.em.findOne(PlacementJob, { uuid: String(uuid) }).catch(() => null),
  }),
  placementJobs: t.connection(
    {
      type: PlacementJobRef,
      description: 'Placement jobs in creation order, filtered by state, definition or node.',
      args: { filter: t.arg({ type: JobFilterInput }) },
      resolve: (_r, args, ctx) => connection(args, (page) => listPlacementJobs(ctx.em, args.filter ?? {}, page)),
    },
    { name: 'PlacementJobConnection', fields: connectionFields },
    { name: 'PlacementJobEdge' },
  ),
}));

const SpawnInput = builder.inputType('SpawnResourcesInput', {
  fields: (t) => ({
    resourceGroup: t.string({ description: 'Default DfltRscGrp.' }),
    resourceDefinition: t.string({ required: true, description: 'Name of the new definition.' }),
    volumeSizes: t.field({ type: ['KiB'], required: true, description: 'One size per volume group of the group.' }),
    externalName: t.string(),
    props: t.field({ type: [PropertyInput] }),
    selectFilter: t.field({ type: SelectFilterInput, description: "Overrides of the group's select filter for this spawn." }),
    definitionsOnly: t.boolean({ description: 'Create the definition and its volume definitions only.' }),
    partial: t.boolean({ description: 'Allow fewer or more sizes than volume groups.' }),
    allowPartialPlacement: t.boolean({ description: 'Place as many replicas as fit when the place count cannot be met.' }),
  }),
});

const AutoplaceInput = builder.inputType('AutoplaceInput', {
  fields: (t) => ({
    resourceDefinition: t.string({ required: true }),
    selectFilter: t.field({ type: SelectFilterInput }),
    additionalReplicas: t.int({ description: 'Add this many diskful replicas regardless of the place count.' }),
    allowPartialPlacement: t.boolean(),
  }),
});

builder.mutationFields((t) => ({
  spawnResources: t.field({
    type: OutcomeRef,
    description:
      'Creates a definition from a resource group (volume definitions from its volume groups and the given sizes) and autoplaces its replicas, in one transaction; answers at once with the placement job. A placement that cannot be met is refused with PLACEMENT_FAILED and the reasons.',
    args: { input: t.arg({ type: SpawnInput, required: true }) },
    resolve: (_r, { input }, ctx) => spawnResources(ctx.service, input),
  }),
  autoplaceResourceDefinition: t.field({
    type: OutcomeRef,
    description: "Adds replicas to a definition up to its group's place count (or additionalReplicas more).",
    args: { input: t.arg({ type: AutoplaceInput, required: true }) },
    resolve: (_r, { input }, ctx) => autoplaceResourceDefinition(ctx.service, input),
  }),
}));
