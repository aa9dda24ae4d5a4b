import { ControllerConfig } from '../../orm/entities/controller-config.js';
import { modifyController } from '../../controller/services/controller-config.js';
import type { IControllerConfig } from '../../orm/entities/controller-config.js';
import { builder } from '../builder.js';
import { PropsChangeInput, propsFields } from './common.js';

const ControllerRef = builder.objectRef<IControllerConfig>('Controller').implement({
  description: 'The controller: its properties are cluster-wide defaults, the lowest priority in inheritance.',
  fields: (t) => ({
    ...propsFields<IControllerConfig>(t),
  }),
});

builder.queryFields((t) => ({
  controller: t.field({ type: ControllerRef, resolve: (_r, _a, ctx) => ctx.em.findOneOrFail(ControllerConfig, { id: 1 }) }),
}));

builder.mutationFields((t) => ({
  modifyController: t.field({
    type: ControllerRef,
    args: { props: t.arg({ type: PropsChangeInput, required: true }) },
    resolve: (_r, { props }, ctx) => modifyController(ctx.service, props),
  }),
}));
