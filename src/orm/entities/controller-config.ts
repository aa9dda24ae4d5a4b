import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { propsProperty } from './base.js';

/** The controller's own settings: one row (id 1) holding the cluster-wide properties, the lowest priority layer. */
export const ControllerConfig = defineEntity({
  name: 'ControllerConfig',
  tableName: 'controller_config',
  properties: {
    id: p.integer().primary(),
    props: propsProperty(),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
  checks: [{ name: 'controller_config_singleton', expression: 'id = 1' }],
});
export type IControllerConfig = InferEntity<typeof ControllerConfig>;
