import type { ApplyReport, VolumeReport } from '../../common/protocol/satellite.js';
import { volumeKey } from '../../common/protocol/satellite.js';

/**
 * Shrinks the satellite's pass reports to what the controller does not know yet (a partial report, see
 * ApplyReport.partial). A pass lists every volume of the node (hundreds on a busy node), and the controller used to
 * compare all of them with its database on every report; now a report costs what changed.
 *
 * A volume's entry is sent when
 * - no report was delivered on this connection yet, or the controller sent a full desired state since (the report
 *   is then complete);
 * - it differs from the entry last delivered for it;
 * - a desired-state change named the volume since the last delivered report (its controller-side record may be new
 *   or reset: a resource deleted and created again under the same name, a resize, a volume just sent);
 * - it is not CREATED: failures are repeated in every report, because the controller derives the node's error
 *   summary and the jobs' failures from the report at hand.
 * Everything else is as last delivered. `forget()` (connection lost, fatal report) makes the next report complete.
 */
export class ReportCompactor {
  /** Entries the controller confirmed, by volume key, as JSON; null: the next report must be complete. */
  private delivered: Map<string, string> | null = null;
  /** Volume keys a desired-state change named since they were last delivered, with the touch's sequence number. */
  private readonly named = new Map<string, number>();
  private sequence = 0;
  /** Moved by forget(): a report put together before it must not count as delivered after it. */
  private epoch = 0;

  /** The next report is complete (after a (re)connect, a full desired state, or a report the controller may not have). */
  forget(): void {
    this.delivered = null;
    this.named.clear();
    this.epoch++;
  }

  /** A desired-state change named these volumes: their next report entries are sent whatever they hold. */
  touch(keys: Iterable<string>): void {
    const at = ++this.sequence;
    for (const key of keys) this.named.set(key, at);
  }

  /**
   * Call when a pass starts; give the answer to compact() with that pass's report. Names touched after it (a delta
   * that arrived while the pass ran) are still owed after the report is confirmed: the pass did not see their change.
   */
  passStarted(): number {
    return this.sequence;
  }

  /**
   * The report to send for `report` (a whole pass), and `delivered()` to call once the controller confirmed it. A
   * report that is not confirmed changes nothing: the next one repeats what this one carried. `seen`: what
   * passStarted() said when the pass began (default: now).
   */
  compact(report: ApplyReport, seen = this.sequence): { report: ApplyReport; delivered: () => void } {
    const entries = report.volumes.map((v) => ({ volume: v, key: volumeKey(v), json: JSON.stringify(v) }));
    const at = seen;
    const epoch = this.epoch;
    const wasComplete = this.delivered === null;
    const previous = this.delivered;
    const delivered = () => {
      if (epoch !== this.epoch) return;
      // Only what this pass saw: volumes that are gone are dropped, so one coming back is reported again.
      this.delivered = new Map(entries.filter((e) => e.volume.state === 'CREATED').map((e) => [e.key, e.json]));
      // Names touched after the pass began stay: the next report still owes them.
      for (const [key, seq] of [...this.named]) if (seq <= at) this.named.delete(key);
    };
    if (report.fatal || wasComplete) {
      if (report.fatal) return { report, delivered: () => this.forget() };
      return { report, delivered };
    }
    const volumes: VolumeReport[] = entries.filter((e) => e.volume.state !== 'CREATED' || this.named.has(e.key) || previous!.get(e.key) !== e.json).map((e) => e.volume);
    return { report: { ...report, volumes, partial: true }, delivered };
  }
}
