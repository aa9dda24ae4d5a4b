/**
 * DRBD 8.4 compatibility for the kernel lane. Debian's kernel ships DRBD 8.4.11 in-tree; blockplane (like LINSTOR)
 * targets DRBD 9, whose module is not in Debian main. Rather than pretend, the lane runs the satellite's real DRBD
 * layer and drbd-utils backend on 8.4 and bridges exactly the differences below, each one named where it is bridged:
 *
 * 1. Configuration dialect. drbdadm-84 refuses what renderResFile writes for DRBD 9: `node-id` in `on` sections
 *    ("Parse error: 'disk | device | address | meta-disk | flexible-meta-disk' expected, but got 'node-id'"),
 *    `connection { host ... address ...; }` blocks (8.4 has one implicit connection, the address goes into each `on`
 *    section: "'address' keyword missing"), and DRBD 9 resource options such as `quorum` ("'an option keyword'
 *    expected, but got 'quorum'"). {@link toDrbd84ResFile} rewrites the generated file into the 8.4 dialect.
 * 2. Multi-peer. 8.4 replicates between exactly two nodes: a resource with more than one peer is refused.
 * 3. Metadata. 8.4 writes v08 metadata with a single peer slot, `drbdadm-84 create-md` has no `--max-peers` (exit
 *    20: "unrecognized option '--max-peers'"), and `drbdmeta ... v09 ... dstate` finds no v09 metadata on a v08
 *    device ("No valid meta data found"), so {@link Drbd84Backend} checks for and creates v08 metadata.
 * 4. events2 is NOT bridged: drbd-utils 9.22's `drbdsetup events2` on the 8.4 module prints DRBD 9's line format,
 *    which the satellite's parser reads unchanged. What differs is content: the one connection is always
 *    `peer-node-id:0 conn-name:peer` (not the peer's node id and name), there is no `quorum:`/`client:`, and no
 *    `done:` while syncing. Tests assert what 8.4 really prints.
 *
 * Everything else (adjust, primary --force/secondary, resize, down, the events2 process) is the real
 * DrbdUtilsBackend, unchanged. drbd-utils' `drbdadm`/`drbdsetup` detect the 8.4 module and exec `drbdadm-84` /
 * `drbdsetup-84` from /usr/lib/drbd, which the guest puts on PATH (the guest's init, not code).
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { DesiredDrbdResource } from '../../src/common/protocol/drbd.js';
import { CommandError, type CommandRunner } from '../../src/satellite/exec/command-runner.js';
import type { DrbdBackend } from '../../src/satellite/layers/drbd/backend.js';
import { DRBDMETA_EXIT_NO_METADATA, isNoMetadata } from '../../src/satellite/layers/drbd/drbdadm.js';
import { DRBD_CREATE_MD_TIMEOUT_MS, DRBD_METADATA_CHECK_TIMEOUT_MS } from '../../src/satellite/layers/drbd/utils-backend.js';

/** A generated resource file that has no DRBD 8.4 equivalent; the message says what and why. */
export class Drbd84DialectError extends Error {
  constructor(message: string) {
    super(`Cannot express the resource file in the DRBD 8.4 dialect: ${message}`);
    this.name = 'Drbd84DialectError';
  }
}

/** A `name { ... }` block of a resource file; items are statements (`x y;`), comments or nested blocks. */
interface Block {
  header: string;
  items: (string | Block)[];
}

/**
 * DRBD 9 resource options that 8.4 does not have, with the one value that means what 8.4 does anyway (dropping the
 * option then changes nothing). Any other value cannot be expressed on 8.4 and is refused.
 */
const DRBD9_ONLY_RESOURCE_OPTIONS: Readonly<Record<string, string | null>> = {
  quorum: 'off',
  'on-no-quorum': null,
  'quorum-minimum-redundancy': null,
  'auto-promote': null,
  'auto-promote-timeout': null,
  'on-suspended-primary-outdated': null,
  'peer-ack-window': null,
  'peer-ack-delay': null,
  'max-io-depth': null,
};

/**
 * Rewrites a resource file written by renderResFile (DRBD 9 dialect) into the DRBD 8.4 dialect drbdadm-84 reads:
 * the address of each host moves from the `connection` block into its `on` section, `node-id` lines and the
 * `connection` block go, and DRBD 9-only resource options are dropped where that changes nothing (`quorum off`).
 * Pure; keeps the layout (4-space indents, braces on their own lines).
 * @throws Drbd84DialectError for what 8.4 cannot do: more than one peer, peer-device options, quorum, auto-promote.
 */
export function toDrbd84ResFile(text: string): string {
  const root = parseBlocks(text);
  const resources = root.items.filter((item): item is Block => typeof item !== 'string');
  if (resources.length !== 1 || !resources[0]!.header.startsWith('resource ')) {
    throw new Drbd84DialectError('expected exactly one `resource` block');
  }
  const resource = resources[0]!;
  const connections = resource.items.filter((item): item is Block => typeof item !== 'string' && item.header === 'connection');
  if (connections.length > 1) {
    throw new Drbd84DialectError(`${resource.header} has ${connections.length} peers; DRBD 8.4 replicates between exactly two nodes`);
  }
  const addresses = new Map<string, string>();
  for (const connection of connections) {
    for (const item of connection.items) {
      if (typeof item !== 'string') {
        throw new Drbd84DialectError(`per-connection \`${item.header}\` options (DrbdOptions/PeerDevice/*) have no place in an 8.4 file`);
      }
      const m = /^host (\S+) address (.+);$/.exec(item);
      if (!m) throw new Drbd84DialectError(`unexpected connection statement '${item}'`);
      addresses.set(m[1]!, `address ${m[2]};`);
    }
  }

  const items: (string | Block)[] = [];
  for (const item of resource.items) {
    if (typeof item === 'string') {
      items.push(item);
    } else if (item.header === 'connection') {
      continue;
    } else if (item.header === 'options') {
      const kept = item.items.filter((statement) => typeof statement !== 'string' || keepResourceOption(statement));
      if (kept.length > 0) items.push({ header: item.header, items: kept });
    } else if (item.header.startsWith('on ')) {
      const host = item.header.slice(3).trim();
      const address = addresses.get(host);
      if (address === undefined) {
        throw new Drbd84DialectError(`${item.header} has no address: without a connection to it, 8.4 cannot name the host`);
      }
      // node-id: 8.4 identifies the two nodes by their `on` sections alone.
      const kept = item.items.filter((statement) => typeof statement !== 'string' || !/^node-id \d+;$/.test(statement));
      items.push({ header: item.header, items: [...kept, address] });
    } else {
      items.push(item);
    }
  }
  const comments = root.items.filter((item): item is string => typeof item === 'string');
  const out = [
    ...comments,
    '# Rewritten into the DRBD 8.4 dialect by the kernel lane (scripts/kernel-lane/drbd84.ts).',
    '',
    ...renderBlock({ header: resource.header, items }, 0),
  ];
  return `${out.join('\n')}\n`;
}

function keepResourceOption(statement: string): boolean {
  const m = /^(\S+) "?([^";]*)"?;$/.exec(statement);
  if (!m) return true;
  const [, name, value] = m;
  if (!(name! in DRBD9_ONLY_RESOURCE_OPTIONS)) return true;
  const harmless = DRBD9_ONLY_RESOURCE_OPTIONS[name!];
  if (harmless !== null && harmless === value) return false;
  throw new Drbd84DialectError(`the resource option '${name} ${value}' exists only in DRBD 9`);
}

function parseBlocks(text: string): Block {
  const root: Block = { header: '', items: [] };
  const stack: Block[] = [root];
  let pendingHeader: string | null = null;
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const top = stack[stack.length - 1]!;
    const where = `line ${index + 1} ('${line}')`;
    if (line === '{') {
      if (pendingHeader === null) throw new Drbd84DialectError(`${where}: '{' without a block name`);
      const block: Block = { header: pendingHeader, items: [] };
      top.items.push(block);
      stack.push(block);
      pendingHeader = null;
    } else if (line === '}') {
      if (stack.length === 1 || pendingHeader !== null) throw new Drbd84DialectError(`${where}: unbalanced '}'`);
      stack.pop();
    } else if (pendingHeader !== null) {
      throw new Drbd84DialectError(`${where}: expected '{' after '${pendingHeader}'`);
    } else if (line.endsWith(';') || line.startsWith('#')) {
      top.items.push(line);
    } else {
      pendingHeader = line;
    }
  }
  if (stack.length !== 1 || pendingHeader !== null) throw new Drbd84DialectError('unbalanced braces at the end of the file');
  return root;
}

function renderBlock(block: Block, depth: number): string[] {
  const pad = '    '.repeat(depth);
  const lines = [`${pad}${block.header}`, `${pad}{`];
  block.items.forEach((item, index) => {
    if (typeof item === 'string') {
      lines.push(`${pad}    ${item}`);
    } else {
      // A blank line between the resource's blocks, as renderResFile writes them.
      if (depth === 0 && index > 0) lines.push('');
      lines.push(...renderBlock(item, depth + 1));
    }
  });
  lines.push(`${pad}}`);
  return lines;
}

/** What the 8.4 adapter needs besides the backend it wraps. */
export interface Drbd84BackendOptions {
  /** The runner for the two commands this adapter runs itself (v08 metadata check and create-md). */
  runner: CommandRunner;
  /** Sees every raw events2 line before the DRBD layer does (the lane records them). */
  onLine?: (line: string) => void;
}

/**
 * The satellite's real drbd-utils backend, run on DRBD 8.4: every call goes to `inner` (a DrbdUtilsBackend from
 * selectDrbdBackend) except the three 8.4 differences in this file's header: the file is rewritten into the 8.4
 * dialect before `inner.validate` checks it, and metadata is looked for and created as v08.
 */
export class Drbd84Backend implements DrbdBackend {
  readonly name = 'drbd-utils' as const;

  constructor(
    private readonly inner: DrbdBackend,
    private readonly options: Drbd84BackendOptions,
  ) {}

  start(onLine: (line: string) => void, onRestart: () => void): Promise<void> {
    return this.inner.start((line) => {
      this.options.onLine?.(line);
      onLine(line);
    }, onRestart);
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }

  /**
   * Difference 1: rewrites the candidate file (written by DrbdLayer in the DRBD 9 dialect) in place into the 8.4
   * dialect, then has the real backend check it (`drbdadm -c <file> sh-nop`, answered by drbdadm-84). The DrbdLayer
   * then installs the checked, rewritten file.
   */
  async validate(resourceName: string, resFilePath: string): Promise<void> {
    const text = await readFile(resFilePath, 'utf8');
    await writeFile(resFilePath, toDrbd84ResFile(text), { mode: 0o600 });
    await this.inner.validate(resourceName, resFilePath);
  }

  /** Difference 3: `drbdmeta --force <minor> v08 <backing> internal dstate` (the 8.4 metadata format). */
  async hasMetadata(resource: DesiredDrbdResource, volumeNumber: number, backingDevice: string): Promise<boolean> {
    const minor = resource.volumes.find((v) => v.volumeNumber === volumeNumber)?.minor;
    if (minor === undefined) throw new Error(`DRBD resource ${resource.name} has no volume ${volumeNumber}`);
    const argv = ['drbdmeta', '--force', String(minor), 'v08', backingDevice, 'internal', 'dstate'];
    const purpose = `check for DRBD 8.4 metadata on ${backingDevice} (${resource.name}/${volumeNumber})`;
    const result = await this.options.runner.run({
      argv,
      purpose,
      timeoutMs: DRBD_METADATA_CHECK_TIMEOUT_MS,
      allowedExitCodes: [0, DRBDMETA_EXIT_NO_METADATA],
    });
    if (result.exitCode === 0) return true;
    const error = new CommandError({ argv, purpose, exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr, timedOut: false });
    if (isNoMetadata(error)) return false;
    throw error;
  }

  /** Difference 3: `drbdadm -- --force create-md <res>/<vol>`, without DRBD 9's `--max-peers` (8.4: one peer). */
  async createMetadata(resource: DesiredDrbdResource, volumeNumber: number): Promise<void> {
    await this.options.runner.run({
      argv: ['drbdadm', '--', '--force', 'create-md', `${resource.name}/${volumeNumber}`],
      purpose: `create DRBD 8.4 metadata for ${resource.name}/${volumeNumber}`,
      timeoutMs: DRBD_CREATE_MD_TIMEOUT_MS,
    });
  }

  adjust(resource: DesiredDrbdResource): Promise<void> {
    return this.inner.adjust(resource);
  }

  forceInitialSync(resource: DesiredDrbdResource, volumeNumbers: number[]): Promise<void> {
    return this.inner.forceInitialSync(resource, volumeNumbers);
  }

  resize(resource: DesiredDrbdResource, volumeNumber: number): Promise<void> {
    return this.inner.resize(resource, volumeNumber);
  }

  down(resourceName: string): Promise<void> {
    return this.inner.down(resourceName);
  }
}
