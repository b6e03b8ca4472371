// The test facade: verbs only tests and benchmarks use, never the helper. It loads the test
// object (bpf/portcullis-test.bpf.c) over a firewall's own maps and runs packets through
// BPF_PROG_TEST_RUN: the attached programs (the cached path), the same code without the cache
// (full evaluation) and an empty baseline; and it reads what the maps cost the kernel.
import { addon, nativeFirewalls, type NativeFirewall, type NativeTestPrograms } from './addon.js';
import type { Firewall } from './index.js';

/** The direction of a cgroup_skb program. */
export type TestProgram = 'egress' | 'ingress';

export interface TestRunOptions {
  /** Runs of the program (the kernel reports the mean duration). Default 1. */
  repeat?: number;
  /** true (default): the attached program, per-socket verdict cache included (the dummy
   *  socket of a test run keeps its cache across repeats). false: the same code with the cache
   *  bypassed, i.e. full rule evaluation on every run. */
  cached?: boolean;
  /** Runs the empty baseline program instead (benchmarks). */
  baseline?: boolean;
}

export interface TestRunResult {
  verdict: 'allow' | 'block';
  /** Mean nanoseconds per run, as measured by the kernel. */
  durationNs: number;
}

export class TestPrograms {
  private constructor(private readonly native: NativeTestPrograms) {}

  /** Loads the test programs over `firewall`'s maps (close them before the firewall's pins go). */
  static async load(firewall: Firewall): Promise<TestPrograms> {
    return new TestPrograms(await addon().TestPrograms.load(nativeFirewall(firewall)));
  }

  /** Runs a cgroup_skb program on one packet (an IPv4 or IPv6 packet, no link-layer header). */
  run(program: TestProgram, packet: Uint8Array, options: TestRunOptions = {}): TestRunResult {
    if (program !== 'egress' && program !== 'ingress') throw new TypeError(`run: unknown program "${String(program)}"`);
    const name = options.baseline ? 'pcl_empty' : options.cached === false ? `pcl_${program}_eval` : `pcl_${program}`;
    const result = this.native.run(name, withEthernetHeader(packet), options.repeat ?? 1);
    return { verdict: result.retval === 1 ? 'allow' : 'block', durationNs: result.durationNs };
  }

  /** Kernel memory charged to the firewall's maps (fdinfo memlock), current rule maps included. */
  mapMemory(): number {
    return this.native.mapMemory();
  }

  close(): void {
    this.native.close();
  }
}

/**
 * The addon's object behind a Firewall: the rule maps an apply drives (prepareMap, swap,
 * applyDiff), for tests that call them directly or make them fail on purpose.
 */
export function nativeFirewall(firewall: Firewall): NativeFirewall {
  const native = nativeFirewalls.get(firewall);
  if (!native) throw new TypeError('not a Firewall of this addon');
  return native;
}

/** BPF_PROG_TEST_RUN for cgroup_skb wants an Ethernet frame; the EtherType sets skb->protocol. */
function withEthernetHeader(packet: Uint8Array): Buffer {
  const frame = Buffer.alloc(14 + packet.length);
  const version = packet.length > 0 ? packet[0]! >> 4 : 4;
  frame.writeUInt16BE(version === 6 ? 0x86dd : 0x0800, 12);
  frame.set(packet, 14);
  return frame;
}
