import { describe, expect, it } from '@jest/globals';
import { ApolloServer } from '@apollo/server';
import { LoadGate } from '../../../src/controller/load-gate.js';
import { markMutations } from '../../../src/graph/server.js';

/** The API's plugin tells the gate about mutations (and only those) from start to response, errors included. */
describe('markMutations', () => {
  it('counts a mutation as foreground while it runs, not a query, and releases on errors', async () => {
    const gate = new LoadGate();
    const seen: Record<string, number> = {};
    const server = new ApolloServer({
      typeDefs: 'type Query { q: Int } type Mutation { m: Int, fails: Int }',
      resolvers: {
        Query: { q: () => (seen.q = gate.stats().foreground) },
        Mutation: {
          m: () => (seen.m = gate.stats().foreground),
          fails: () => {
            seen.fails = gate.stats().foreground;
            throw new Error('refused');
          },
        },
      },
      plugins: [markMutations(gate)],
    });
    await server.start();
    try {
      await server.executeOperation({ query: '{ q }' });
      await server.executeOperation({ query: 'mutation { m }' });
      const failed = await server.executeOperation({ query: 'mutation { fails }' });
      expect(failed.body.kind === 'single' && failed.body.singleResult.errors?.[0]?.message).toBe('refused');
      // A document that does not validate never becomes a running mutation.
      await server.executeOperation({ query: 'mutation { nosuch }' });
      expect(seen).toEqual({ q: 0, m: 1, fails: 1 });
      expect(gate.stats().foreground).toBe(0);
    } finally {
      await server.stop();
    }
  });
});
