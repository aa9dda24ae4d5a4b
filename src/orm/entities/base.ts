import { randomUUID } from 'node:crypto';
import { p } from '@mikro-orm/core';
import type { Props } from '../../common/props/keys.js';

/**
 * Columns every object has: a compact integer key for foreign keys, a stable UUID that is shown to users
 * (LINSTOR objects carry one too), and creation/modification times.
 */
export const baseProperties = {
  id: p.integer().primary().autoincrement(),
  uuid: p.uuid().unique().onCreate(() => randomUUID()),
  createdAt: p.datetime().onCreate(() => new Date()),
  updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
};

/**
 * A user-visible name: `name` keeps the spelling the user gave, `nameKey` is computed by the database as
 * upper(name) and carries the uniqueness constraint, so names are unique case-insensitively no matter which code
 * path writes them.
 */
export const namedProperties = {
  name: p.string().length(253),
  // onCreate fills the in-memory value at once (and makes the field optional to em.create); the INSERT leaves the
  // generated column out and the database computes it.
  nameKey: p
    .string()
    .length(253)
    .generated('(upper(name)) stored')
    .onCreate((entity: { name: string }) => entity.name.toUpperCase()),
};

/** String->string properties of an object, stored as a JSON object next to it (so they never dangle). */
export const propsProperty = () => p.json<Props>().defaultRaw(`'{}'`);

/** A list of strings stored as a PostgreSQL text[] column. */
export const stringList = () => p.array<string>().defaultRaw(`'{}'`);
