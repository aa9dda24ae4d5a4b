import { resolveCursorConnection, type ResolveCursorConnectionArgs } from '@pothos/plugin-relay';
import { ApiError, ErrorCode } from '../../common/api-rc.js';
import type { EffectiveProp } from '../../common/props/inherit.js';
import type { Props } from '../../common/props/keys.js';
import {
  CONNECTION_STATUSES,
  ENCRYPTION_TYPES,
  LAYER_KINDS,
  NODE_TYPES,
  PROVIDER_KINDS,
  VOLUME_DEFINITION_FLAGS,
  VOLUME_GROUP_FLAGS,
} from '../../common/vocabulary.js';
import type { Page, PageRequest } from '../../controller/queries.js';
import { builder } from '../builder.js';

/** Shared GraphQL vocabulary: enums, properties, filters and pagination. */

export const NodeTypeEnum = builder.enumType('NodeType', { values: NODE_TYPES, description: 'Role of a node (LINSTOR node types).' });
export const ConnectionStatusEnum = builder.enumType('ConnectionStatus', { values: CONNECTION_STATUSES, description: "The controller's view of a node's satellite connection." });
export const ProviderKindEnum = builder.enumType('ProviderKind', { values: PROVIDER_KINDS, description: 'Storage provider of a storage pool.' });
export const EncryptionTypeEnum = builder.enumType('EncryptionType', { values: ENCRYPTION_TYPES, description: 'Encryption of the controller-satellite link.' });
export const LayerKindEnum = builder.enumType('LayerKind', { values: LAYER_KINDS, description: 'A layer of a resource stack, top to bottom; STORAGE is always last.' });
export const VolumeGroupFlagEnum = builder.enumType('VolumeGroupFlag', { values: VOLUME_GROUP_FLAGS, description: 'GROSS_SIZE: the size includes the overhead of the layers (e.g. DRBD metadata).' });
export const VolumeDefinitionFlagEnum = builder.enumType('VolumeDefinitionFlag', { values: VOLUME_DEFINITION_FLAGS, description: 'Volume definition flags (RESIZE: a grow is being realized).' });
export const PropsOriginEnum = builder.enumType('PropsOrigin', {
  values: ['controller', 'resourceGroup', 'volumeGroup', 'resourceDefinition', 'volumeDefinition', 'resource', 'volume'] as const,
  description: 'The object an effective property value comes from.',
});

export const PropertyRef = builder.objectRef<{ key: string; value: string }>('Property').implement({
  description: 'A namespaced property, e.g. Aux/site = a.',
  fields: (t) => ({ key: t.exposeString('key'), value: t.exposeString('value') }),
});

const ShadowedRef = builder.objectRef<{ origin: EffectiveProp['origin']; value: string }>('ShadowedProperty').implement({
  description: 'A value set on a lower-priority object and overridden.',
  fields: (t) => ({ origin: t.expose('origin', { type: PropsOriginEnum }), value: t.exposeString('value') }),
});

export const EffectivePropertyRef = builder.objectRef<EffectiveProp>('EffectiveProperty').implement({
  description: 'A property after inheritance (controller -> resource group -> resource definition -> resource ...): the winning value, where it comes from, and what it overrides.',
  fields: (t) => ({
    key: t.exposeString('key'),
    value: t.exposeString('value'),
    origin: t.expose('origin', { type: PropsOriginEnum }),
    shadowed: t.field({ type: [ShadowedRef], resolve: (p) => p.shadowed }),
  }),
});

export const PropertyInput = builder.inputType('PropertyInput', {
  fields: (t) => ({ key: t.string({ required: true }), value: t.string({ required: true }) }),
});

export const PropsChangeInput = builder.inputType('PropsChangeInput', {
  description: 'Changes to properties: namespaces are removed first, then single keys, then values are set.',
  fields: (t) => ({
    set: t.field({ type: [PropertyInput], description: 'Keys to set or overwrite.' }),
    unset: t.stringList({ description: 'Keys to remove.' }),
    unsetNamespaces: t.stringList({ description: "Namespaces to remove with every key below them, e.g. 'Aux/rack'." }),
  }),
});

export const PropFilterInput = builder.inputType('PropFilterInput', {
  description: 'A condition on one property; give exactly one of equals, in, exists.',
  fields: (t) => ({
    key: t.string({ required: true }),
    equals: t.string(),
    in: t.stringList(),
    exists: t.boolean(),
  }),
});

export const DeleteResultRef = builder.objectRef<{ uuid: string; name: string }>('DeleteResult').implement({
  description: 'What a delete mutation removed.',
  fields: (t) => ({ uuid: t.exposeID('uuid'), name: t.exposeString('name', { description: 'Display name or path of the deleted object.' }) }),
});

/** Resolves to null when the lookup says NOT_FOUND; any other failure propagates (it is not an absence). */
export async function orNull<T>(lookup: Promise<T>): Promise<T | null> {
  try {
    return await lookup;
  } catch (error) {
    if (error instanceof ApiError && error.code === ErrorCode.NOT_FOUND) return null;
    throw error;
  }
}

/** Properties as a sorted list of key/value pairs. */
export function propsList(props: Props): { key: string; value: string }[] {
  return Object.keys(props)
    .sort()
    .map((key) => ({ key, value: props[key]! }));
}

/** Adds `props` and `prop(key)` fields to an object type whose shape has a `props` map. */
export function propsFields<T extends { props: Props }>(t: PropsFieldBuilder<T>) {
  return {
    props: t.field({ type: [PropertyRef], description: 'Properties set on this object, sorted by key.', resolve: (o: T) => propsList(o.props) }),
    prop: t.string({
      nullable: true,
      description: 'The value of one property set on this object, or null.',
      args: { key: t.arg.string({ required: true }) },
      resolve: (o: T, args: { key: string }) => (Object.hasOwn(o.props, args.key) ? o.props[args.key]! : null),
    }),
  };
}

// Pothos' field builder type is deeply generic; this alias keeps propsFields readable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type PropsFieldBuilder<T> = any;

const CURSOR_PREFIX = 'id:';

/** Opaque cursor of a row: base64url of its id. */
export function toCursor(row: { id: number }): string {
  return Buffer.from(`${CURSOR_PREFIX}${row.id}`).toString('base64url');
}

function fromCursor(cursor: string | undefined, field: string): number | null {
  if (cursor === undefined) return null;
  const text = Buffer.from(cursor, 'base64url').toString();
  const id = Number(text.slice(CURSOR_PREFIX.length));
  if (!text.startsWith(CURSOR_PREFIX) || !Number.isSafeInteger(id) || id < 0) {
    throw ApiError.invalid(ErrorCode.INVALID_VALUE, field, `'${cursor}' is not a cursor from this API.`, 'Pass a cursor taken from pageInfo.endCursor/startCursor or edges.cursor of an earlier page.');
  }
  return id;
}

/** Pagination defaults: 100 rows per page unless `first`/`last` say otherwise, never more than 1,000. */
export const PAGE_LIMITS = { defaultSize: 100, maxSize: 1000 };

/**
 * Runs a keyset-paginated list for a relay connection field and attaches a lazily counted totalCount.
 */
export async function connection<T extends { id: number }>(
  args: { first?: number | null; last?: number | null; after?: string | null; before?: string | null },
  list: (request: PageRequest) => Promise<Page<T>>,
) {
  checkPageSize(args.first, 'first');
  checkPageSize(args.last, 'last');
  let total: (() => Promise<number>) | undefined;
  const result = await resolveCursorConnection(
    { args, toCursor, ...PAGE_LIMITS },
    async ({ before, after, limit, inverted }: ResolveCursorConnectionArgs) => {
      const page = await list({ afterId: fromCursor(after, 'after'), beforeId: fromCursor(before, 'before'), limit, inverted });
      total = page.totalCount;
      return page.rows;
    },
  );
  return { ...result, totalCount: () => total!() };
}

function checkPageSize(n: number | null | undefined, field: string): void {
  if (n != null && (n < 0 || n > PAGE_LIMITS.maxSize)) {
    throw ApiError.invalid(ErrorCode.INVALID_VALUE, field, `${field}: ${n} is outside 0-${PAGE_LIMITS.maxSize}.`, `Ask for at most ${PAGE_LIMITS.maxSize} rows per page and follow pageInfo.endCursor for more.`);
  }
}

/** Extra field every connection gets. */
export const connectionFields = (t: PropsFieldBuilder<unknown>) => ({
  totalCount: t.int({
    description: 'Number of objects matching the filter (all pages). Costs one COUNT query, only when selected.',
    resolve: (c: { totalCount: () => Promise<number> }) => c.totalCount(),
  }),
});
