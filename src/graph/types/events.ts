import { MODEL_ACTIONS, MODEL_KINDS, type ModelEvent } from '../../controller/events/bus.js';
import { AsyncQueue, chainedReads } from '../../controller/events/queue.js';
import { nameKey } from '../../common/names.js';
import { Node, type INode } from '../../orm/entities/node.js';
import { builder } from '../builder.js';
import type { GraphContext } from '../context.js';
import { createLoaders } from '../loaders.js';
import { NodeRef } from './refs.js';

/**
 * Current state first, then changes. The listener is registered before the current state is read, so a change
 * that lands in between is delivered (perhaps twice, never lost). Built on AsyncQueue so that a client going away
 * ends the subscription at once.
 */
function nodeStatusStream(ctx: GraphContext, names: readonly string[] | null): AsyncIterableIterator<INode> {
  const wanted = names ? new Set(names.map(nameKey)) : null;
  let remove = (): void => undefined;
  const queue = new AsyncQueue<INode>(() => remove());
  // Reads are chained so that nodes come out in the order their events arrived.
  const enqueue = chainedReads(queue);
  remove = ctx.service.events.listen((e) => {
    if (e.kind !== 'NODE' || e.action === 'DELETED' || (wanted && !wanted.has(nameKey(e.path[0] ?? '')))) return;
    enqueue(async () => {
      const node = await ctx.em.fork().findOne(Node, { nameKey: nameKey(e.path[0]!) });
      return node ? [node] : [];
    });
  });
  enqueue(() => ctx.em.fork().find(Node, wanted ? { nameKey: { $in: [...wanted] } } : {}, { orderBy: { id: 'asc' } }));
  return queue;
}

const ModelKindEnum = builder.enumType('ModelKind', { values: MODEL_KINDS, description: 'Kind of object a model event is about.' });
const ModelActionEnum = builder.enumType('ModelAction', { values: MODEL_ACTIONS });

const ModelEventRef = builder.objectRef<ModelEvent>('ModelEvent').implement({
  description: 'A committed change of the cluster model. Events carry identities; query the object for its state.',
  fields: (t) => ({
    kind: t.expose('kind', { type: ModelKindEnum }),
    action: t.expose('action', { type: ModelActionEnum }),
    uuid: t.exposeID('uuid', { nullable: true }),
    path: t.exposeStringList('path', { description: "The object's names from the top, e.g. [node, pool] for a storage pool." }),
    at: t.expose('at', { type: 'DateTime' }),
  }),
});

builder.subscriptionFields((t) => ({
  nodeStatus: t.field({
    type: NodeRef,
    description: 'The current state of the named nodes (all when none are named) first, then each node again whenever it changes (connection status, errors, revisions). WebSocket only.',
    args: { names: t.arg.stringList() },
    subscribe: (_r, { names }, ctx) => nodeStatusStream(ctx, names ?? null),
    resolve: (node, _a, ctx) => {
      // A subscription keeps its context for its whole life: give each event fresh loaders, or nested fields
      // (pools, capacity) would repeat what the first event saw.
      ctx.em = ctx.em.fork();
      ctx.loaders = createLoaders(ctx.em);
      return node;
    },
  }),
  modelEvents: t.field({
    type: ModelEventRef,
    description: 'Every committed create/modify/delete, optionally only of some kinds. WebSocket (graphql-ws) only.',
    args: { kinds: t.arg({ type: [ModelKindEnum] }) },
    subscribe: (_r, { kinds }, ctx) => ctx.service.events.subscribe((e) => !kinds || kinds.includes(e.kind)),
    resolve: (event) => event,
  }),
}));
