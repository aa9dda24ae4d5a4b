import { rm } from 'node:fs/promises';

/** Stops the embedded PostgreSQL started by global-setup.ts and removes its directory. */
export default async function globalTeardown(): Promise<void> {
  const embedded = (globalThis as { __embeddedDb?: { stop(): Promise<void>; dir: string } }).__embeddedDb;
  if (!embedded) return;
  await embedded.stop();
  await rm(embedded.dir, { recursive: true, force: true });
}
