import { MODEL_ACTIONS, MODEL_KINDS, type ModelEvent } from '../../controller/events/bus.js';
import { builder } from '../builder.js';

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
  modelEvents: t.field({
    type: ModelEventRef,
    description: 'Every committed create/modify/delete, optionally only of some kinds. WebSocket (graphql-ws) only.',
    args: { kinds: t.arg({ type: [ModelKindEnum] }) },
    subscribe: (_r, { kinds }, ctx) => ctx.service.events.subscribe((e) => !kinds || kinds.includes(e.kind)),
    resolve: (event) => event,
  }),
}));
