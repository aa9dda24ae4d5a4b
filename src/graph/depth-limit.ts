/**
 * A limit on how deeply an operation nests field selections. The model's references run in circles
 * (resourceGroup -> resourceDefinitions -> resourceGroup -> ...), so without a limit one request can make the
 * response, and the work, grow as N^depth.
 */
import {
  GraphQLError,
  Kind,
  specifiedRules,
  validate,
  type ASTVisitor,
  type DocumentNode,
  type GraphQLSchema,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';

/**
 * Most levels of nested fields an operation may select. graphql-js's standard introspection query (what GraphiQL
 * sends, with or without its options) is 15 deep (its TypeRef fragment nests `ofType` eight times), so 20 leaves room
 * for clients that ask for a few more `ofType` levels while still cutting the circular references short.
 */
export const MAX_QUERY_DEPTH = 20;

/** Apollo's code for validation errors; set here too so graphql-ws answers with the same one. */
export const VALIDATION_FAILED = 'GRAPHQL_VALIDATION_FAILED';

/**
 * Validation rule: every operation's selection depth, counted in nested fields (fragment spreads and inline
 * fragments are resolved and add no level of their own; `{ a { b } }` is 2 deep) must be at most `maxDepth`.
 * Introspection fields count like any other.
 */
export function depthLimitRule(maxDepth: number = MAX_QUERY_DEPTH): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const cap = maxDepth + 1;
    const fragmentDepths = new Map<string, number>();
    const inProgress = new Set<string>();

    // Depth of a selection set, counted up to `limit` (a deeper one answers `limit`): the walk never goes further
    // than needed to decide, however deep the document.
    const depthOf = (selectionSet: SelectionSetNode, limit: number): number => {
      let max = 0;
      for (const selection of selectionSet.selections) {
        let depth: number;
        if (selection.kind === Kind.FIELD) depth = selection.selectionSet && limit > 1 ? 1 + depthOf(selection.selectionSet, limit - 1) : 1;
        else if (selection.kind === Kind.INLINE_FRAGMENT) depth = depthOf(selection.selectionSet, limit);
        else depth = Math.min(fragmentDepth(selection.name.value), limit);
        if (depth >= limit) return limit;
        if (depth > max) max = depth;
      }
      return max;
    };

    const fragmentDepth = (name: string): number => {
      const known = fragmentDepths.get(name);
      if (known !== undefined) return known;
      const fragment = context.getFragment(name);
      // Unknown fragments and cycles are reported by graphql's own rules (KnownFragmentNames, NoFragmentCycles).
      if (!fragment || inProgress.has(name)) return 0;
      inProgress.add(name);
      const depth = depthOf(fragment.selectionSet, cap);
      inProgress.delete(name);
      fragmentDepths.set(name, depth);
      return depth;
    };

    return {
      OperationDefinition(operation) {
        if (depthOf(operation.selectionSet, cap) <= maxDepth) return;
        const name = operation.name ? `The operation '${operation.name.value}'` : 'The operation';
        context.reportError(
          new GraphQLError(
            `${name} nests fields more than ${maxDepth} levels deep; the query depth limit is ${maxDepth}. Select fewer nested levels and query deeper objects in a follow-up request.`,
            { nodes: [operation], extensions: { code: VALIDATION_FAILED, maxDepth } },
          ),
        );
      },
    };
  };
}

/** The extra validation rules, for Apollo's `validationRules`. */
export const validationRules: readonly ValidationRule[] = [depthLimitRule()];

/**
 * graphql's `validate` with the standard rules plus ours, for graphql-ws (which has no `validationRules` option).
 * Errors get Apollo's GRAPHQL_VALIDATION_FAILED code, so both transports answer alike.
 */
export function validateWithLimits(schema: GraphQLSchema, document: DocumentNode): readonly GraphQLError[] {
  return validate(schema, document, [...specifiedRules, ...validationRules]).map((error) =>
    error.extensions.code !== undefined
      ? error
      : new GraphQLError(error.message, {
          nodes: error.nodes,
          source: error.source,
          positions: error.positions,
          path: error.path,
          originalError: error.originalError,
          extensions: { ...error.extensions, code: VALIDATION_FAILED },
        }),
  );
}
