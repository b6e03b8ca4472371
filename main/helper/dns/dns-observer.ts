// What the helper learns from DNS. The kernel reports the queries sockets were allowed to send and
// the answers delivered to sockets that sent one (bpf/dns.bpf.h). An answer is believed only when
// it answers a pending query of the same socket (PendingQueries), and only for what that query
// asked (resolutionsFor): then it names addresses (DnsNames) and feeds domain rules. Everything
// else — unsolicited packets from port 53, answers to questions nobody asked, a flood of them — is
// counted and forgotten, holding no memory.
import type { DecisionEvent } from '../../../native/api.js';
import { parseDnsQuery, parseDnsResponse, resolutionsFor } from './dns-message.js';
import type { DnsNames, ResolvedAddress } from './dns-names.js';
import { PendingQueries } from './pending-queries.js';

export interface DnsCounts {
  /** Queries reported by the kernel and remembered. */
  queries: number;
  /** Answers that matched a query and were learned. */
  answersLearned: number;
  /** Answers that matched no pending query of their socket (unsolicited, late, forged). */
  answersUnmatched: number;
  /** Captures that did not parse as the query or answer they were reported as. */
  malformed: number;
}

export class DnsObserver {
  readonly counts: DnsCounts = { queries: 0, answersLearned: 0, answersUnmatched: 0, malformed: 0 };

  constructor(
    private readonly names: DnsNames,
    /** Addresses a believed answer resolved (for domain rules). */
    private readonly onResolved: (resolved: ResolvedAddress[]) => void = () => undefined,
    readonly pending = new PendingQueries(),
  ) {}

  /** Takes a 'dns-query' or 'dns' event; returns the addresses it taught (empty for the rest). */
  observe(event: DecisionEvent, nowWallMs: number): ResolvedAddress[] {
    if (!event.dnsPayload) return [];
    // Kernel time: monotonic, and the same clock for a query and its answer.
    const eventMs = Number(event.timeNs / 1_000_000n);
    const side = { socket: event.socketCookie, server: event.remoteAddr, serverPort: event.remotePort };
    if (event.kind === 'dns-query') {
      const query = parseDnsQuery(event.dnsPayload);
      if (!query.ok) {
        this.counts.malformed++;
        return [];
      }
      this.counts.queries++;
      this.pending.add({ ...side, ...query.value }, eventMs);
      return [];
    }
    if (event.kind !== 'dns') return [];
    if (!this.pending.waitsOn(event.socketCookie)) {
      this.counts.answersUnmatched++;
      return [];
    }
    const response = parseDnsResponse(event.dnsPayload);
    if (!response.ok) {
      this.counts.malformed++;
      return [];
    }
    const [question] = response.value.questions;
    if (
      response.value.questions.length !== 1 ||
      !this.pending.take({ ...side, id: response.value.id, question: question! }, eventMs)
    ) {
      this.counts.answersUnmatched++;
      return [];
    }
    this.counts.answersLearned++;
    const resolved = this.names.record(resolutionsFor(response.value, question!), nowWallMs);
    if (resolved.length > 0) this.onResolved(resolved);
    return resolved;
  }
}
