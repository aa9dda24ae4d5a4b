import type { Props } from './keys.js';

/** Where an effective property value came from, lowest priority first in {@link resolveProps} input. */
export type PropsOrigin =
  | 'controller'
  | 'resourceGroup'
  | 'volumeGroup'
  | 'resourceDefinition'
  | 'volumeDefinition'
  | 'resource'
  | 'volume';

export interface PropsLayer {
  origin: PropsOrigin;
  props: Props;
}

export interface EffectiveProp {
  key: string;
  value: string;
  origin: PropsOrigin;
  /** Values of the same key set on lower-priority objects and overridden by `origin`, highest first. */
  shadowed: { origin: PropsOrigin; value: string }[];
}

/**
 * Resolves inherited properties: `layers` go from lowest priority (controller) to highest (e.g. resource); a key set
 * on a higher layer wins and the values it hides are kept as `shadowed`, so users can see why a value applies.
 * Result is sorted by key.
 */
export function resolveProps(layers: readonly PropsLayer[]): EffectiveProp[] {
  const result = new Map<string, EffectiveProp>();
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer.props)) {
      const previous = result.get(key);
      result.set(key, {
        key,
        value,
        origin: layer.origin,
        shadowed: previous ? [{ origin: previous.origin, value: previous.value }, ...previous.shadowed] : [],
      });
    }
  }
  return [...result.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
