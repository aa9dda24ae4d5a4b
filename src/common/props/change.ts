import { ApiError, ErrorCode } from '../api-rc.js';
import { checkProp, checkPropKey, checkPropNamespace, type Props, type PropsOwner } from './keys.js';

/** A change to an object's properties (LINSTOR's override_props / delete_props / delete_namespaces). */
export interface PropsChange {
  set?: readonly { key: string; value: string }[] | null;
  unset?: readonly string[] | null;
  unsetNamespaces?: readonly string[] | null;
}

/**
 * Applies `change` to `current` for `owner` and returns the new map (the input is not modified). Every key and
 * value is validated; `fieldPrefix` (e.g. `input.props`) makes the error name the exact input element.
 * Namespaces are removed first, then single keys, then values are set, so a request can replace a namespace.
 * @throws ApiError INVALID_PROPERTY
 */
export function applyPropsChange(owner: PropsOwner, current: Props, change: PropsChange | null | undefined, fieldPrefix: string): Props {
  const next: Props = { ...current };
  if (!change) return next;
  (change.unsetNamespaces ?? []).forEach((ns, i) => {
    const field = `${fieldPrefix}.unsetNamespaces[${i}]`;
    const prefix = checkPropNamespace(owner, ns, field);
    for (const key of Object.keys(next)) if (key.startsWith(prefix)) delete next[key];
  });
  (change.unset ?? []).forEach((key, i) => {
    checkPropKey(owner, key, `${fieldPrefix}.unset[${i}]`);
    delete next[key];
  });
  const seen = new Set<string>();
  (change.set ?? []).forEach(({ key, value }, i) => {
    const field = `${fieldPrefix}.set[${i}]`;
    if (seen.has(key)) {
      throw ApiError.invalid(ErrorCode.INVALID_PROPERTY, field, `The property '${key}' is set twice in one request.`, 'Give each key once.');
    }
    seen.add(key);
    checkProp(owner, key, value, field);
    next[key] = value;
  });
  return next;
}

/** Validates a complete initial property map given as a list. */
export function initialProps(owner: PropsOwner, set: PropsChange['set'], fieldPrefix: string): Props {
  return applyPropsChange(owner, {}, { set }, fieldPrefix);
}
