import { nameKey } from '../../common/names.js';
import { DEFAULT_PLACE_COUNT } from '../../common/vocabulary.js';
import { parseRules, type ExistingReplicaNode } from './constraints.js';
import { needsTieBreaker, placeDiskless } from './diskless.js';
import { buildRejections, explainRun } from './explain.js';
import { collectCandidates, filterCandidates, type Candidate } from './filter.js';
import { ratePools, resolveWeights, STRATEGIES } from './rate.js';
import { selectPools, type SelectCounter } from './select.js';
import type { DisklessPlacement, PlacementRequest, PlacementResult, PlacementSnapshot } from './types.js';

/**
 * Places the diskful (and diskless) replicas of one resource definition: filter -> rate -> select over an
 * in-memory snapshot (linstor-facts section 4, STYLE rule 8). Pure and deterministic: no database, no clock, no
 * randomness; the same snapshot and request always give the same result, whatever the order of the input lists.
 *
 * 1. Existing replicas: diskful, non-deleting replicas of the definition count toward the place count and fix
 *    replicas-on-same values and replicas-on-different usage. Needed = `request.additionalReplicas` when > 0, else
 *    max(0, placeCount (default 2) - existing).
 * 2. Filter (filter.ts): every node and pool rule, with a reason for each failure.
 * 3. Rate (rate.ts + strategies/): weighted MaxFreeSpace, MinReservedSpace, MinRscCount; weights from
 *    `Autoplacer/Weights/<name>` on the definition's props, then the controller.
 * 4. Select (select.ts): one pool per node, replicas-on-same/different and x-replicas-on-different obeyed, highest
 *    summed score, ties by score desc then node then pool name. When not all needed replicas fit, the largest
 *    number that does is found for the explanation (and placed with `allowPartial`).
 * 5. Diskless (diskless.ts): a tie-breaker when the diskful count ends even and >= 2 and no voting diskless replica
 *    exists (unless `DrbdOptions/auto-add-quorum-tiebreaker=false` or quorum off), diskless-on-remaining clients.
 *    Only when the diskful placement succeeded (or was partial with `allowPartial`).
 * 6. Every node/pool without a diskful replica gets a rejection with reasons; `explanation` is one paragraph.
 *
 * Never throws for a placement that cannot be made: `ok` is false and the explanation says why.
 */
export function autoplace(snapshot: PlacementSnapshot, request: PlacementRequest): PlacementResult {
  const counter: SelectCounter = { operations: 0, searchSteps: 0 };
  const ownKey = nameKey(request.resourceDefinition);
  const definitionProps = request.props ?? {};
  const nodesByKey = new Map(snapshot.nodes.map((n) => [nameKey(n.name), n]));

  const own = snapshot.resources.filter((r) => nameKey(r.resourceDefinition) === ownKey && !r.deleting);
  const existingDiskful = own.filter((r) => !r.diskless);
  const existing: ExistingReplicaNode[] = existingDiskful.map((r) => {
    const node = nodesByKey.get(nameKey(r.node));
    return { name: node?.name ?? r.node, props: node?.props ?? {} };
  });
  const votingDiskless = own.filter((r) => r.diskless && !r.client).length;

  const placeCount = request.filter.placeCount ?? DEFAULT_PLACE_COUNT;
  const needed =
    request.additionalReplicas != null && request.additionalReplicas > 0
      ? request.additionalReplicas
      : Math.max(0, placeCount - existingDiskful.length);

  const rules = parseRules(request.filter, existing);
  const outcome = filterCandidates({
    nodes: snapshot.nodes,
    pools: snapshot.pools,
    resources: snapshot.resources,
    controllerProps: snapshot.controllerProps,
    definitionProps,
    resourceDefinition: request.resourceDefinition,
    sizeKib: request.sizeKib,
    filter: request.filter,
    rules,
    counter,
  });

  const candidates = collectCandidates(outcome);
  const weights = resolveWeights(STRATEGIES, [definitionProps, snapshot.controllerProps]);
  ratePools(candidates, STRATEGIES, weights, counter).forEach((score, i) => {
    candidates[i]!.score = score;
  });

  const first = selectPools({ candidates, count: needed, rules, counter });
  let truncated = first.truncated;
  let chosen: Candidate[] = first.selected ?? [];
  let maxPlaceable = needed;
  const ok = first.selected !== null;
  if (!ok) {
    maxPlaceable = 0;
    chosen = [];
    for (let k = needed - 1; k >= 1; k--) {
      const attempt = selectPools({ candidates, count: k, rules, counter });
      truncated ||= attempt.truncated;
      if (attempt.selected) {
        maxPlaceable = k;
        if (request.allowPartial) chosen = attempt.selected;
        break;
      }
    }
  }

  let disklessPlacements: DisklessPlacement[] = [];
  let tieBreakerMissing = false;
  if (ok || chosen.length > 0) {
    const diskfulNodeProps = [...existing.map((e) => e.props), ...chosen.map((c) => c.nodeProps)];
    const tieBreaker = needsTieBreaker({
      diskfulCount: diskfulNodeProps.length,
      votingDisklessCount: votingDiskless,
      props: [definitionProps, snapshot.controllerProps],
    });
    const diskless = placeDiskless({
      verdicts: outcome.nodes,
      chosen: chosen.map((c) => c.node),
      diskfulNodeProps,
      rules,
      tieBreaker,
      disklessOnRemaining: request.filter.disklessOnRemaining === true,
    });
    disklessPlacements = diskless.placements;
    tieBreakerMissing = diskless.tieBreakerMissing;
  }

  const facts = {
    resourceDefinition: request.resourceDefinition,
    sizeKib: request.sizeKib,
    placeCount,
    needed,
    existing,
    rules,
    outcome,
    candidates,
    chosen,
    ok,
    maxPlaceable,
    disklessPlacements,
    tieBreakerMissing,
    truncated,
    searchSteps: counter.searchSteps,
  };
  return {
    ok,
    needed,
    existingDiskful: existingDiskful.length,
    placements: chosen.map((c) => ({ node: c.node, pool: c.pool, score: c.score, wasDiskless: c.wasDiskless })),
    disklessPlacements,
    rejections: buildRejections(facts),
    explanation: explainRun(facts),
    stats: { operations: counter.operations, searchSteps: counter.searchSteps, searchTruncated: truncated },
  };
}
