import { LockMode } from '@mikro-orm/core';
import { applyPropsChange, type PropsChange } from '../../common/props/change.js';
import { ControllerConfig, type IControllerConfig } from '../../orm/entities/controller-config.js';
import type { ServiceContext } from '../context.js';
import { withTransaction } from '../transaction.js';
import { drbdOptionsChanged, touchReplicaNodes } from './drbd-propagation.js';


/** Changes the controller's properties: cluster-wide defaults, the lowest priority in inheritance. */
export async function modifyController(ctx: ServiceContext, props: PropsChange): Promise<IControllerConfig> {
  return withTransaction(ctx, 'Modify controller', async (em, emit, touch) => {
    // The row exists from the first migration on; lock it so concurrent changes apply one after the other.
    const config = await em.findOneOrFail(ControllerConfig, { id: 1 }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    const before = config.props;
    config.props = applyPropsChange('controller', config.props, props, 'props');
    await em.flush();
    if (drbdOptionsChanged(before, config.props)) await touchReplicaNodes(em, touch, { all: true }, 'controller DRBD options changed');
    emit('CONTROLLER', 'MODIFIED', []);
    return config;
  });
}
