// Collects decision events from a Firewall subscription and waits (bounded) for ones matching.
import type { DecisionEvent } from '../../native/api.js';
import type { Firewall } from '../../native/index.js';
import { eventDecoding } from './kernel-fixture.js';
import { eventually, present } from '../support/eventually.js';

export class EventCollector {
  readonly events: DecisionEvent[] = [];
  drops = 0n;
  private readonly close: () => void;

  constructor(firewall: Firewall) {
    const subscription = firewall.subscribe((events, drops) => {
      this.events.push(...events);
      this.drops += drops;
    }, eventDecoding);
    this.close = () => subscription.close();
  }

  stop(): void {
    this.close();
  }

  /** Resolves with the first event matching, or rejects after timeoutMs listing what came. */
  async waitFor(match: (event: DecisionEvent) => boolean, what: string, timeoutMs = 3000): Promise<DecisionEvent> {
    return eventually(() => this.events.find(match), present, `an event ${what}`, {
      timeoutMs,
      everyMs: 20,
      describe: () =>
        `none; saw: ${
          this.events
            .map((e) => `${e.kind} ${e.remoteAddr}:${e.remotePort} ${e.protocol} ${e.verdict} tgid=${e.tgid}`)
            .join('; ') || 'nothing'
        }`,
    });
  }
}
