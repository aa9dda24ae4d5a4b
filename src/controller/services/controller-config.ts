import { LockMode } from '@mikro-orm/core';
import { applyPropsChange, type PropsChange } from '../../common/props/change.js';
import { ControllerConfig, type IControllerConfig } from '../../orm/entities/controller-config.js';
import type { ServiceContext } from '../context.js';
import { withTransaction } from '../transaction.js';

/** Changes the controller's properties: cluster-wide defaults, the lowest priority in inheritance. */
export async function modifyController(ctx: ServiceContext, props: PropsChange): Promise<IControllerConfig> {
  return withTransaction(ctx, 'Modify controller', async (em, emit) => {
    // The row exists from the first migration on; lock it so concurrent changes apply one after the other.
    const config = await em.findOneOrFail(ControllerConfig, { id: 1 }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    config.props = applyPropsChange('controller', config.props, props, 'props');
    await em.flush();
    emit('CONTROLLER', 'MODIFIED', []);
    return config;
  });
}
