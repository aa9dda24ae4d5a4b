import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import { GraphQLError, Kind } from 'graphql';
import type { KiB } from '../common/sizes.js';
import type { GraphContext } from './context.js';

/** The one SchemaBuilder. Types are defined in ./types/*, one file per object with its operations. */
export const builder = new SchemaBuilder<{
  Context: GraphContext;
  Scalars: {
    KiB: { Input: string; Output: KiB };
    DateTime: { Input: Date; Output: Date };
  };
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
}>({
  plugins: [RelayPlugin],
  defaultFieldNullability: false,
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    edgesFieldOptions: { nullable: false },
    nodeFieldOptions: { nullable: false },
  },
});

builder.queryType({ description: 'Read the cluster model.' });
builder.mutationType({ description: 'Change the cluster model. Every mutation is one database transaction.' });
builder.subscriptionType({ description: 'Live changes, over graphql-ws (WebSocket) only.' });

/**
 * Sizes in KiB. Output is a decimal string (sizes exceed 2^31 and, in bytes, 2^53). Input accepts an integer
 * (KiB), a decimal string (KiB), or a string with a binary unit such as "10GiB"; the text is handed to the service,
 * which validates it and names the exact input field in its INVALID_SIZE error.
 */
builder.scalarType('KiB', {
  description:
    'A size in KiB. Returned as a decimal string (sizes exceed 32-bit and JavaScript-safe integers). Accepted as an integer (KiB), a string of digits (KiB) or a string with a binary unit: "512MiB", "10GiB", "2TiB".',
  serialize: (value) => String(value),
  parseValue: (value) => {
    if (typeof value === 'string' || (typeof value === 'number' && Number.isSafeInteger(value))) return String(value);
    throw new GraphQLError(`KiB cannot represent ${JSON.stringify(value)}: give an integer or a string such as "10GiB".`, { extensions: { code: 'INVALID_SIZE' } });
  },
  parseLiteral: (ast) => {
    if (ast.kind === Kind.INT || ast.kind === Kind.STRING) return ast.value;
    throw new GraphQLError('KiB must be an integer or a string such as "10GiB".', { extensions: { code: 'INVALID_SIZE' } });
  },
});

builder.scalarType('DateTime', {
  description: 'A point in time as an ISO-8601 string in UTC.',
  serialize: (value) => (value instanceof Date ? value : new Date(String(value))).toISOString(),
  parseValue: (value) => new Date(String(value)),
});

