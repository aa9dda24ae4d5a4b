/** Stops the embedded PostgreSQL started by global-setup.ts. */
export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __embeddedDb?: { stop(): Promise<void> } }).__embeddedDb?.stop();
}
