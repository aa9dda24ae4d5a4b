import {
  createSourceEventStream,
  execute,
  getArgumentValues,
  getOperationAST,
  getVariableValues,
  Kind,
  print,
  subscribe,
  type ExecutionArgs,
  type ExecutionResult,
} from 'graphql';
import { AsyncQueue } from '../controller/events/queue.js';
import type { GraphContext } from './context.js';

/**
 * Key of the field extension that lets subscribers of a subscription field share one execution (see
 * SharedSubscriptions). Set it with Pothos' `extensions: { [SHARED_SUBSCRIPTION]: rule }`.
 */
export const SHARED_SUBSCRIPTION = 'blockplaneSharedSubscription';

export interface SharingRule {
  /**
   * Whether subscribers with these arguments may share: only when a subscriber that joins late is owed nothing of
   * its own (no snapshot of the current state at the time it subscribed), since it joins a running stream.
   */
  when: (args: Record<string, unknown>) => boolean;
  /**
   * The identity of what a source event is about (e.g. one replica): a subscriber that falls behind keeps only the
   * newest result per key, like the unshared streams do.
   */
  latestKey?: (event: unknown) => string;
}

interface Group {
  key: string;
  members: Set<AsyncQueue<ExecutionResult>>;
  source: AsyncIterator<unknown> | null;
  closed: boolean;
}

/**
 * Shared execution of identical subscriptions, for graphql-ws' `subscribe` hook. Subscribers sending the same
 * document, operation and variables (as the same principal) to a field that allows it (SHARED_SUBSCRIPTION) are one
 * group: one source stream, one execution per event, and every member gets the same result. Without it, a
 * dashboard opened by 1,000 operators costs 1,000 executions per state change (measured as the largest share of the
 * controller's work in the S5 benchmark). Anything else goes to graphql's own `subscribe`, unchanged.
 */
export class SharedSubscriptions {
  private readonly groups = new Map<string, Group>();
  private executionCount = 0;

  /** `makeContext` gives each shared execution its own context (fresh loaders: nothing cached across events). */
  constructor(private readonly makeContext: () => GraphContext) {}

  /** What is shared right now, and how many executions shared groups ran (for tests and metrics). */
  stats(): { groups: number; subscribers: number; executions: number } {
    let subscribers = 0;
    for (const g of this.groups.values()) subscribers += g.members.size;
    return { groups: this.groups.size, subscribers, executions: this.executionCount };
  }

  readonly subscribe = async (args: ExecutionArgs): Promise<AsyncIterable<ExecutionResult> | ExecutionResult> => {
    const plan = this.plan(args);
    if (!plan) return subscribe(args);
    let group = this.groups.get(plan.key);
    if (!group) {
      group = { key: plan.key, members: new Set(), source: null, closed: false };
      this.groups.set(plan.key, group);
      void this.run(group, args, plan.rule);
    }
    const g = group;
    const member: AsyncQueue<ExecutionResult> = new AsyncQueue<ExecutionResult>(() => this.leave(g, member));
    g.members.add(member);
    return member;
  };

  /** The sharing key and rule when `args` may share, else null. */
  private plan(args: ExecutionArgs): { key: string; rule: SharingRule } | null {
    const operation = getOperationAST(args.document, args.operationName);
    const type = args.schema.getSubscriptionType();
    if (!operation || operation.operation !== 'subscription' || !type) return null;
    const [selection, ...more] = operation.selectionSet.selections;
    if (!selection || more.length > 0 || selection.kind !== Kind.FIELD || selection.directives?.length) return null;
    const field = type.getFields()[selection.name.value];
    const rule = field?.extensions?.[SHARED_SUBSCRIPTION] as SharingRule | undefined;
    if (!field || !rule) return null;
    const variables = getVariableValues(args.schema, operation.variableDefinitions ?? [], args.variableValues ?? {});
    // Bad variables or arguments: graphql's own subscribe reports them.
    if (variables.errors) return null;
    let fieldArgs: Record<string, unknown>;
    try {
      fieldArgs = getArgumentValues(field, selection, variables.coerced);
    } catch {
      return null;
    }
    if (!rule.when(fieldArgs)) return null;
    const principal = (args.contextValue as GraphContext | undefined)?.service.principal.name ?? '';
    return { key: JSON.stringify([principal, args.operationName ?? null, print(args.document), variables.coerced]), rule };
  }

  private async run(group: Group, args: ExecutionArgs, rule: SharingRule): Promise<void> {
    const end = (error?: Error) => {
      for (const m of group.members) m.end(error);
    };
    // The group's own contexts (fresh loaders per event), acting as the principal the group is keyed by.
    const principal = (args.contextValue as GraphContext | undefined)?.service.principal;
    const context = () => {
      const ctx = this.makeContext();
      if (principal) ctx.service.principal = principal;
      return ctx;
    };
    try {
      const source = await createSourceEventStream({ ...args, contextValue: context() });
      if (!(Symbol.asyncIterator in source)) {
        // The field refused to start (an error result): every member gets it, then completes.
        this.close(group);
        for (const m of group.members) m.push(source);
        end();
        return;
      }
      const iterator = source[Symbol.asyncIterator]();
      group.source = iterator;
      if (group.closed) {
        await iterator.return?.();
        return;
      }
      for (;;) {
        const next = await iterator.next();
        if (next.done || group.closed) break;
        const result = await execute({ ...args, contextValue: context(), rootValue: next.value });
        this.executionCount++;
        const key = rule.latestKey?.(next.value);
        for (const m of group.members) {
          if (key === undefined) m.push(result);
          else m.pushLatest(key, result);
        }
      }
    } catch (err) {
      // A failing source ends every member the way it ends an unshared subscription: graphql-ws sends an error.
      this.close(group);
      end(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.close(group);
    end();
  }

  private leave(group: Group, member: AsyncQueue<ExecutionResult>): void {
    group.members.delete(member);
    if (group.members.size === 0) this.close(group);
  }

  private close(group: Group): void {
    if (group.closed) return;
    group.closed = true;
    if (this.groups.get(group.key) === group) this.groups.delete(group.key);
    void group.source?.return?.();
  }
}
