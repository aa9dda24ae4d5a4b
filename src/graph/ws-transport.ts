import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { CloseCode, handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import type { Logger } from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';

/** What the subscription server's context sees of a connection (graphql-ws' `ctx.extra`). */
export interface WsExtra {
  socket: WebSocket;
  request: IncomingMessage;
}

/** Below this many bytes queued on a socket, a message counts as sent at once (see serveGraphqlWs). */
const SEND_HIGH_WATER_BYTES = 1024 * 1024;

/**
 * graphql-ws over `ws` for the public API: graphql-ws' own `useServer` adapter, with two changes for fan-out.
 *
 * - A message counts as sent as soon as `ws` has it, while the socket's queue is short (SEND_HIGH_WATER_BYTES);
 *   `useServer` waits for each write's callback, so a subscriber with several results queued got one per turn of the
 *   event loop, each in its own system call. Past the mark it waits for the write, as before: a client that does
 *   not read cannot make the controller buffer without limit (its subscription queue keeps the newest state per
 *   replica instead).
 * - Writes to a socket are corked until the current turn of the event loop has run, so the messages a burst of
 *   state changes queues for one subscriber leave in one write.
 *
 * Measured with the S5 benchmark (1,000 subscribers): the system calls of one write per message per subscriber were
 * the largest cost left after shared execution.
 */
export function serveGraphqlWs(options: ServerOptions<Record<string, unknown>, WsExtra>, wss: WebSocketServer, log: Logger, keepAliveMs = 12_000): { dispose(): Promise<void> } {
  const server = makeServer(options);
  wss.options.handleProtocols = handleProtocols;
  wss.on('error', (err) => log.error({ err }, 'WebSocket server error'));
  wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    socket.once('error', (err) => {
      log.warn({ err }, 'WebSocket error; closing the connection');
      socket.close(CloseCode.InternalServerError, 'Internal server error');
    });
    const tcp = (socket as unknown as { _socket?: Socket })._socket;
    let corked = false;
    const cork = () => {
      if (corked || !tcp || typeof tcp.cork !== 'function') return;
      corked = true;
      tcp.cork();
      process.nextTick(() => {
        corked = false;
        tcp.uncork();
      });
    };

    // Keepalive like useServer: a client that does not answer a ping within keepAliveMs is dropped.
    let pongWait: NodeJS.Timeout | null = null;
    const pingInterval =
      keepAliveMs > 0
        ? setInterval(() => {
            if (socket.readyState !== socket.OPEN) return;
            pongWait = setTimeout(() => socket.terminate(), keepAliveMs);
            socket.once('pong', () => {
              if (pongWait) clearTimeout(pongWait);
              pongWait = null;
            });
            socket.ping();
          }, keepAliveMs)
        : null;

    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) => {
          if (socket.readyState !== socket.OPEN) return;
          cork();
          if (socket.bufferedAmount < SEND_HIGH_WATER_BYTES) {
            socket.send(data);
            return;
          }
          return new Promise<void>((resolve, reject) => socket.send(data, (err) => (err ? reject(err) : resolve())));
        },
        close: (code, reason) => socket.close(code, reason),
        onMessage: (cb) =>
          socket.on('message', async (event) => {
            try {
              await cb(String(event));
            } catch (err) {
              log.error({ err }, 'graphql-ws message handling failed');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            }
          }),
      },
      { socket, request },
    );
    socket.once('close', (code, reason) => {
      if (pongWait) clearTimeout(pongWait);
      if (pingInterval) clearInterval(pingInterval);
      void closed(code, String(reason));
    });
  });
  return {
    dispose: async () => {
      for (const client of wss.clients) client.close(1001, 'Going away');
      wss.removeAllListeners();
      await new Promise<void>((resolve, reject) => wss.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
