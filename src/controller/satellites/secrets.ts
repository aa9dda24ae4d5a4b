import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Per-node satellite secrets. A secret is 32 random bytes (base64url), shown to the operator once; the database
 * keeps only its SHA-256 (a slow password hash buys nothing for a high-entropy random secret).
 */
export function issueSecret(): { secret: string; hash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { secret, hash: hashSecret(secret) };
}

export function hashSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret).digest('hex')}`;
}

/** Constant-time check of `secret` against a stored hash. */
export function verifySecret(secret: string, hash: string | null | undefined): boolean {
  if (!hash) return false;
  const expected = Buffer.from(hash);
  const actual = Buffer.from(hashSecret(secret));
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
