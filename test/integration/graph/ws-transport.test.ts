import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import pino from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { AsyncQueue } from '../../../src/controller/events/queue.js';
import { serveGraphqlWs } from '../../../src/graph/ws-transport.js';

/**
 * The public API's graphql-ws transport (src/graph/ws-transport.ts): messages count as sent while the socket's queue
 * is short and leave corked per turn of the event loop; past the high-water mark the server waits for the client.
 */
describe('graphql-ws transport', () => {
  let http: Server | undefined;
  let wss: WebSocketServer | undefined;
  let dispose: (() => Promise<void>) | undefined;
  const clients: Client[] = [];
  let feed: AsyncQueue<{ n: number; text: string }> | undefined;

  async function start(): Promise<string> {
    const schema = new GraphQLSchema({
      query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLInt, resolve: () => 1 } } }),
      subscription: new GraphQLObjectType({
        name: 'Subscription',
        fields: {
          tick: {
            type: new GraphQLNonNull(new GraphQLObjectType({ name: 'Tick', fields: { n: { type: new GraphQLNonNull(GraphQLInt) }, text: { type: new GraphQLNonNull(GraphQLString) } } })),
            subscribe: () => (feed = new AsyncQueue<{ n: number; text: string }>(undefined, 100_000)),
            resolve: (v: unknown) => v,
          },
        },
      }),
    });
    http = createServer();
    wss = new WebSocketServer({ server: http });
    dispose = serveGraphqlWs({ schema }, wss, pino({ level: 'silent' })).dispose;
    await new Promise<void>((r) => http!.listen(0, '127.0.0.1', r));
    return `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
  }

  afterEach(async () => {
    feed = undefined;
    for (const c of clients.splice(0)) await c.dispose();
    await dispose?.();
    await new Promise((r) => http?.close(r));
  });

  it('delivers a burst queued for one subscriber completely and in order', async () => {
    const url = await start();
    const client = createClient({ url, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
    clients.push(client);
    const received: number[] = [];
    client.subscribe<{ tick: { n: number } }>({ query: 'subscription { tick { n } }' }, { next: (m) => received.push(m.data!.tick.n), error: () => undefined, complete: () => undefined });
    while (!feed) await new Promise((r) => setTimeout(r, 10));
    for (let n = 0; n < 5000; n++) feed.push({ n, text: 'x' });
    const end = Date.now() + 10_000;
    while (received.length < 5000 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    expect(received).toEqual(Array.from({ length: 5000 }, (_, n) => n));
  });

  it('stops handing messages to a client that does not read once a megabyte waits on its socket', async () => {
    const url = await start();
    let serverSocket: WebSocket | undefined;
    wss!.on('connection', (s) => (serverSocket = s));
    const raw = new WebSocket(url, 'graphql-transport-ws');
    await new Promise((r) => raw.once('open', r));
    raw.send(JSON.stringify({ type: 'connection_init' }));
    await new Promise((r) => raw.once('message', r));
    raw.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { tick { n text } }' } }));
    while (!feed) await new Promise((r) => setTimeout(r, 10));
    // The client stops reading: the kernel buffers fill, then the server's own queue grows.
    (raw as unknown as { _socket: { pause(): void } })._socket.pause();
    const text = 'y'.repeat(64 * 1024);
    for (let n = 0; n < 400; n++) feed.push({ n, text }); // 25 MiB of results
    await new Promise((r) => setTimeout(r, 1500));
    // At most the high-water mark plus the message that crossed it waits in the server's memory; the rest stays in
    // the subscription's queue.
    expect(serverSocket!.bufferedAmount).toBeGreaterThan(0);
    expect(serverSocket!.bufferedAmount).toBeLessThan(1024 * 1024 + 2 * text.length);
    raw.terminate();
  });
});
