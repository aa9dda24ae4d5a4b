/**
 * The kernel lane's wire protocol between a test on the host (guest.ts) and the agent inside a guest (agent.ts):
 * one JSON object per line over a virtio-serial port. The host sends {@link AgentRequest}s with an id; the agent
 * answers each with an {@link AgentResponse} of the same id and sends one {@link AgentReady} event once it runs.
 *
 * Sizes are bigints (KiB), which JSON cannot carry: {@link encode} writes them as `{"$bigint":"123"}` and
 * {@link decode} turns those back into bigints, on both sides.
 */
import type { DesiredDrbdResource, DrbdResourceState, DrbdStateReport } from '../../src/common/protocol/drbd.js';
import type { BackingVolume } from '../../src/satellite/layers/drbd/drbd-layer.js';
import type { PoolSpec } from '../../src/satellite/layers/storage/provider.js';

/** The name of the virtio-serial port the agent listens on (`/sys/class/virtio-ports/vport*p*` has it as `name`). */
export const AGENT_PORT_NAME = 'blockplane.agent';

/** The storage provider methods a test may call (StorageProvider in src/satellite/layers/storage/provider.ts). */
export const STORAGE_METHODS = ['check', 'capacity', 'list', 'create', 'resize', 'delete'] as const;
export type StorageMethod = (typeof STORAGE_METHODS)[number];

/** Requests, by `op`. */
export type AgentRequest =
  /** Runs one command through the production ExecaCommandRunner (test set-up and inspection: vgcreate, dd, mkfs). */
  | { op: 'exec'; argv: string[]; timeoutMs?: number; allowedExitCodes?: number[] }
  /** Calls one method of the provider `createProvider(pool, { runner })` builds, with `args`. */
  | { op: 'storage'; pool: PoolSpec; method: StorageMethod; args: unknown[] }
  /**
   * Builds the DRBD layer as the satellite does (selectDrbdBackend('drbd-utils') + DrbdLayer, wrapped for DRBD 8.4
   * by drbd84.ts) and starts its events2 stream.
   */
  | { op: 'drbd-start'; hostname: string; stateDir: string }
  /** DrbdLayer.apply(resource, backing). */
  | { op: 'drbd-apply'; resource: DesiredDrbdResource; backing: [number, BackingVolume][] }
  /** DrbdLayer.removeUnwanted(desired): takes down every resource of this layer not in `desired`. */
  | { op: 'drbd-remove-unwanted'; desired: DesiredDrbdResource[] }
  /** What the DRBD layer saw since `since` (an index into its lists), and its current state. */
  | { op: 'drbd-observed'; since?: { reports: number; lines: number } }
  /** DrbdLayer.stop(). */
  | { op: 'drbd-stop' }
  /** Answers, then ends the agent; the guest's init powers the guest off. */
  | { op: 'shutdown' };

/** The answer to `exec`: the runner's CommandResult without the argv. */
export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** The answer to `drbd-observed`. */
export interface DrbdObserved {
  /** Every DrbdStateReport the layer sent (to the controller, in production) since `since.reports`. */
  reports: DrbdStateReport[];
  /** Every raw `drbdsetup events2` line the backend delivered since `since.lines`. */
  lines: string[];
  /** Totals, to pass back as the next `since`. */
  next: { reports: number; lines: number };
  /** DrbdLayer.stateOf() of every resource the tracker knows. */
  state: DrbdResourceState[];
}

/** The agent's answer to one request. */
export type AgentResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: { name: string; message: string } };

/** Sent once, when the agent listens. */
export interface AgentReady {
  event: 'ready';
  hostname: string;
  kernel: string;
  /** /proc/drbd's first line, or null without the module. */
  drbd: string | null;
  /** Guest uptime in seconds when the agent was ready. */
  uptimeSeconds: number;
}

/** JSON with bigints as `{"$bigint":"<digits>"}`. */
export function encode(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));
}

/** Parses {@link encode}'s JSON, turning `{"$bigint":...}` back into bigints. */
export function decode(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) => {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const keys = Object.keys(v);
      const digits = (v as Record<string, unknown>).$bigint;
      if (keys.length === 1 && typeof digits === 'string' && /^-?\d+$/.test(digits)) return BigInt(digits);
    }
    return v;
  });
}
