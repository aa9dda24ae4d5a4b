/**
 * The TCP link between two emulated DRBD peers of one resource: newline-delimited JSON over a real socket.
 *
 * Handshake (both sides at once, like DRBD's cram-hmac-alg exchange):
 *   1. each side sends `hello` with the resource name, its node id, the node id it expects the other side to have (the
 *      dialer knows whom it dialed) and a random challenge;
 *   2. each side checks the other's hello (resource name, node ids; a reflected challenge is refused), then answers
 *      the other's challenge with HMAC-SHA1(shared secret, challenge) in `auth`;
 *   3. each side verifies the answer to its own challenge. A wrong answer means the peer does not know the secret and
 *      the link is refused; otherwise the link is authenticated and the owner sends its `state`.
 * Everything after that (state, sync messages) is {@link PeerMessage}.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { DRBD_DISK_STATES, type DrbdDiskState } from '../../../../common/protocol/drbd.js';

/** Longest line accepted from a peer; our own messages are a few hundred bytes. */
const MAX_LINE_BYTES = 1024 * 1024;

interface HelloMessage {
  t: 'hello';
  resource: string;
  nodeId: number;
  /** Node id the sender expects the receiver to have; null from the accepting side, which learns it from this hello. */
  peerNodeId: number | null;
  challenge: string;
}

interface AuthMessage {
  t: 'auth';
  response: string;
}

/** One volume of a peer as its `state` message describes it. */
export interface PeerVolumeState {
  volume: number;
  disk: DrbdDiskState;
  /** Data generation of the volume (0 = never had data); meaningful when the disk is not Diskless/Inconsistent. */
  generation: number;
  uuid: string;
}

/** The sender's local view of the resource; sent after authentication and whenever a local disk changes. */
export interface StateMessage {
  t: 'state';
  volumes: PeerVolumeState[];
}

/** From a would-be sync source: "I have newer data for this volume". */
export interface SyncOfferMessage {
  t: 'sync-offer';
  volume: number;
  generation: number;
  uuid: string;
}

/** From the target: start (or resume at `fromKib`) the offered sync. */
export interface SyncBeginMessage {
  t: 'sync-begin';
  volume: number;
  fromKib: number;
}

/** From the target: it syncs this volume from another peer now; wait (PausedSyncS). */
export interface SyncPauseMessage {
  t: 'sync-pause';
  volume: number;
}

/** From the target: it does not need the offered data (it has that generation or newer). */
export interface SyncRefuseMessage {
  t: 'sync-refuse';
  volume: number;
}

/** From the source: how far the sync got; both sides report the same `done:`. */
export interface SyncProgressMessage {
  t: 'sync-progress';
  volume: number;
  doneKib: number;
  sizeKib: number;
}

/** From the source: the sync is complete; the target now holds this generation. */
export interface SyncDoneMessage {
  t: 'sync-done';
  volume: number;
  generation: number;
  uuid: string;
}

/** Messages after the handshake. */
export type PeerMessage =
  | StateMessage
  | SyncOfferMessage
  | SyncBeginMessage
  | SyncPauseMessage
  | SyncRefuseMessage
  | SyncProgressMessage
  | SyncDoneMessage;

type WireMessage = HelloMessage | AuthMessage | PeerMessage;

/** What a link needs to know to run the handshake. */
export interface LinkOptions {
  resource: string;
  localNodeId: number;
  /** The node id of the peer this side dialed; null on the accepting side. */
  expectedPeerNodeId: number | null;
  /**
   * The shared secret for the peer that announced `peerNodeId`, or the reason it is refused (unknown node id). The
   * accepting side learns whom it talks to from the hello, so it looks the secret up then.
   */
  secretFor(peerNodeId: number): { secret: string } | { refused: string };
  /** Give up on a handshake that does not complete within this long. */
  handshakeTimeoutMs: number;
  /** The peer proved knowledge of the secret; send the state now. */
  onAuthenticated(link: Link): void;
  onMessage(link: Link, message: PeerMessage): void;
  /**
   * The link is gone: `refused` says why the handshake refused it (a mismatch to log), null when the socket merely
   * closed or failed (`error` then carries the socket error code, e.g. ECONNREFUSED).
   */
  onClose(link: Link, refused: string | null, error: string | null): void;
}

/** HMAC-SHA1 of a challenge under the shared secret (cram-hmac-alg sha1). */
export function challengeResponse(secret: string, challenge: string): string {
  return createHmac('sha1', secret).update(challenge).digest('hex');
}

/**
 * One socket to one peer, from its first byte to its close. The owner (the emulated resource) learns about the
 * handshake outcome and every later message through the callbacks; {@link close} ends it and resolves once the socket
 * is really closed, so nothing stays open after the owner's shutdown.
 */
export class Link {
  /** The node id the peer announced (known after its hello). */
  peerNodeId: number | null = null;
  private readonly challenge = randomBytes(20).toString('hex');
  private secret: string | null = null;
  private authenticated = false;
  private buffer = '';
  private closed = false;
  private refusal: string | null = null;
  private error: string | null = null;
  private readonly closedPromise: Promise<void>;
  private handshakeTimer: NodeJS.Timeout | null;

  constructor(
    private readonly socket: Socket,
    private readonly options: LinkOptions,
  ) {
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    this.closedPromise = new Promise((resolve) => {
      socket.once('close', () => {
        this.closed = true;
        this.clearHandshakeTimer();
        resolve();
        this.options.onClose(this, this.refusal, this.error);
      });
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.error ??= error.code ?? error.message;
    });
    socket.on('data', (chunk: string) => this.onData(chunk));
    this.handshakeTimer = setTimeout(() => {
      this.handshakeTimer = null;
      this.refuse(`no handshake within ${options.handshakeTimeoutMs} ms`);
    }, options.handshakeTimeoutMs);
    this.write({
      t: 'hello',
      resource: options.resource,
      nodeId: options.localNodeId,
      peerNodeId: options.expectedPeerNodeId,
      challenge: this.challenge,
    });
  }

  /** Whether the handshake completed and the link is not closed. */
  get usable(): boolean {
    return this.authenticated && !this.closed;
  }

  /** Sends a message to the peer (dropped once the link is closed). */
  send(message: PeerMessage): void {
    this.write(message);
  }

  /** Closes the socket; resolves once it is closed (the onClose callback has run by then). */
  close(): Promise<void> {
    this.clearHandshakeTimer();
    if (!this.closed) this.socket.destroy();
    return this.closedPromise;
  }

  private write(message: WireMessage): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(`${JSON.stringify(message)}\n`);
  }

  private refuse(reason: string): void {
    this.refusal ??= reason;
    void this.close();
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer !== null) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let newline: number;
    while (!this.closed && (newline = this.buffer.indexOf('\n')) !== -1) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + 1);
      const message = parseWireMessage(line);
      if (message === null) {
        this.refuse(`protocol error: unreadable message '${line.slice(0, 200)}'`);
        return;
      }
      this.onWireMessage(message);
    }
    if (this.buffer.length > MAX_LINE_BYTES) this.refuse('protocol error: message too long');
  }

  private onWireMessage(message: WireMessage): void {
    const { options } = this;
    if (message.t === 'hello') {
      if (this.peerNodeId !== null) return this.refuse('protocol error: second hello');
      if (message.resource !== options.resource) {
        return this.refuse(`resource name mismatch: the peer runs '${message.resource}', this side '${options.resource}'`);
      }
      if (options.expectedPeerNodeId !== null && message.nodeId !== options.expectedPeerNodeId) {
        return this.refuse(
          `node-id mismatch: dialed the peer with node-id ${options.expectedPeerNodeId}, it has node-id ${message.nodeId}`,
        );
      }
      if (message.peerNodeId !== null && message.peerNodeId !== options.localNodeId) {
        return this.refuse(
          `node-id mismatch: the peer (node-id ${message.nodeId}) expects this side to have node-id ` +
            `${message.peerNodeId}, it has ${options.localNodeId}`,
        );
      }
      if (message.challenge === this.challenge) return this.refuse('protocol error: reflected challenge');
      const found = options.secretFor(message.nodeId);
      if ('refused' in found) return this.refuse(found.refused);
      this.peerNodeId = message.nodeId;
      this.secret = found.secret;
      this.write({ t: 'auth', response: challengeResponse(found.secret, message.challenge) });
      return;
    }
    if (message.t === 'auth') {
      if (this.secret === null || this.authenticated) return this.refuse('protocol error: unexpected auth');
      const expected = Buffer.from(challengeResponse(this.secret, this.challenge));
      const actual = Buffer.from(message.response);
      if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
        return this.refuse(
          `shared secret mismatch: the peer (node-id ${this.peerNodeId}) answered the cram-hmac-alg sha1 challenge wrongly`,
        );
      }
      this.authenticated = true;
      this.clearHandshakeTimer();
      options.onAuthenticated(this);
      return;
    }
    if (!this.authenticated) return this.refuse(`protocol error: '${message.t}' before authentication`);
    options.onMessage(this, message);
  }
}

const isInt = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value);
const isNum = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isStr = (value: unknown): value is string => typeof value === 'string';

function isPeerVolumeState(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    isInt(v.volume) &&
    isStr(v.disk) &&
    (DRBD_DISK_STATES as readonly string[]).includes(v.disk) &&
    isInt(v.generation) &&
    isStr(v.uuid)
  );
}

/** One wire line as a message, or null when it is not one (wrong JSON, unknown type, missing or mistyped fields). */
function parseWireMessage(line: string): WireMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const m = value as Record<string, unknown>;
  switch (m.t) {
    case 'hello':
      return isStr(m.resource) && isInt(m.nodeId) && (m.peerNodeId === null || isInt(m.peerNodeId)) && isStr(m.challenge)
        ? (m as unknown as HelloMessage)
        : null;
    case 'auth':
      return isStr(m.response) ? (m as unknown as AuthMessage) : null;
    case 'state':
      return Array.isArray(m.volumes) && m.volumes.every(isPeerVolumeState) ? (m as unknown as StateMessage) : null;
    case 'sync-offer':
    case 'sync-done':
      return isInt(m.volume) && isInt(m.generation) && isStr(m.uuid) ? (m as unknown as SyncOfferMessage | SyncDoneMessage) : null;
    case 'sync-begin':
      return isInt(m.volume) && isNum(m.fromKib) ? (m as unknown as SyncBeginMessage) : null;
    case 'sync-pause':
    case 'sync-refuse':
      return isInt(m.volume) ? (m as unknown as SyncPauseMessage | SyncRefuseMessage) : null;
    case 'sync-progress':
      return isInt(m.volume) && isNum(m.doneKib) && isNum(m.sizeKib) ? (m as unknown as SyncProgressMessage) : null;
    default:
      return null;
  }
}
