/** Assembles the schema: importing each type file registers its types and operations on the builder. */
import { builder } from './builder.js';
import './types/common.js';
import './types/controller.js';
import './types/drbd.js';
import './types/events.js';
import './types/node.js';
import './types/placement.js';
import './types/placement-job.js';
import './types/resource.js';
import './types/resource-definition.js';
import './types/resource-group.js';
import './types/storage-pool.js';

export const schema = builder.toSchema({ sortSchema: true });
