// What the datapath does and in which form on this kernel, in words: the list `status` carries and
// doctor, the wizard and the status bar show. From the helper's run-time probes (probeKernel) and
// the form the loaded programs actually took (an adopted pin keeps the one it was made with).
import type { KernelFeature } from '../contract/index.js';
import type { FastPathHome, KernelFeatures } from '../../native/api.js';

/** A feature the programs cannot load without: present, or missing with what the kernel lacks. */
function needed(
  id: KernelFeature['id'],
  label: string,
  present: boolean,
  form: string,
  gives: string,
  lacks: string,
): KernelFeature {
  return present
    ? { id, label, available: true, required: true, reduced: false, form, why: gives }
    : { id, label, available: false, required: true, reduced: false, form: 'unavailable', why: lacks };
}

function fastPathFeature(probe: KernelFeatures, fastPath: FastPathHome): KernelFeature {
  const base = { id: 'fast-path', label: 'Cached fast path', available: true, required: false } as const;
  if (fastPath === 'entry') {
    return {
      ...base,
      reduced: false,
      form: 'per-socket entries',
      why: "the kernel-context cast (bpf_cast_to_kern_ctx, Linux 6.2+) finds a settled socket's cached verdict in its own entry, with no helper call per packet",
    };
  }
  return {
    ...base,
    reduced: true,
    form: 'socket storage',
    why: probe.kernelContextCast
      ? 'the programs in force were loaded in this form and adopted as they are (this kernel has the kernel-context cast; a fresh load takes the faster form): every packet makes one socket-storage lookup'
      : 'the kernel-context cast (bpf_cast_to_kern_ctx) arrived in Linux 6.2: every packet makes one socket-storage lookup before its cached verdict',
  };
}

/**
 * DNS is learned only from sockets of namespaces real root made (an unprivileged user's own namespace
 * could answer its own queries). The loaded programs read that from the packet's socket where they
 * have the kernel-context cast; otherwise from what the socket's creation noted.
 */
function dnsNamespaceFeature(fastPath: FastPathHome): KernelFeature {
  const base = { id: 'dns-namespace', label: 'DNS from system namespaces', available: true, required: false } as const;
  return fastPath === 'entry'
    ? {
        ...base,
        reduced: false,
        form: "the socket's own namespace",
        why: "each DNS packet's socket is checked for a network namespace of the system's, with no state kept",
      }
    : {
        ...base,
        reduced: true,
        form: 'the namespace a socket was made in',
        why: 'without the kernel-context cast (Linux 6.2) the check is noted when a socket is made: sockets older than the programs report no DNS until they are reopened',
      };
}

export function describeKernelFeatures(probe: KernelFeatures, fastPath: FastPathHome): KernelFeature[] {
  return [
    needed(
      'verdicts',
      'Connection verdicts',
      probe.cgroupSockAddr,
      'connect and sendmsg hooks',
      'a blocked connection or datagram fails at once with EPERM in the application',
      'the kernel lacks the cgroup connect/sendmsg hooks (BPF_PROG_TYPE_CGROUP_SOCK_ADDR)',
    ),
    needed(
      'owners',
      'Socket owners',
      probe.cgroupSock,
      fastPath === 'entry' ? 'connect, sendmsg, bind and packet hooks' : 'socket-create and bind hooks',
      fastPath === 'entry'
        ? 'each socket is tied to the process, user and app that first uses it'
        : 'each socket is tied to its process, user and app when it is made',
      'the kernel lacks the cgroup socket hooks (BPF_PROG_TYPE_CGROUP_SOCK)',
    ),
    needed(
      'backstop',
      'Packet backstop and traffic counts',
      probe.cgroupSkb && probe.skStorage,
      'packet hooks with per-socket state',
      'ICMP, raw sockets, inbound traffic and flows older than a rule are decided per packet, and bytes counted',
      'the kernel lacks cgroup packet hooks (BPF_PROG_TYPE_CGROUP_SKB) or socket storage (Linux 5.2+)',
    ),
    ...(probe.cgroupSkb && probe.skStorage ? [fastPathFeature(probe, fastPath), dnsNamespaceFeature(fastPath)] : []),
    needed(
      'app-identity',
      'App identity in the kernel',
      probe.tpBtf,
      'exec, fork and exit tracepoints (tp_btf)',
      "per-app rules decide from a process's first packet, with no round trip to the helper",
      'the kernel lacks BTF tracepoints (tp_btf) for exec, fork and exit',
    ),
    needed(
      'close-totals',
      'Exact totals at close',
      probe.sockRelease,
      'socket-release hook',
      'a closed socket reports its exact byte and packet totals once',
      'the kernel lacks the cgroup socket-release hook (Linux 5.9+)',
    ),
    needed(
      'events',
      'Live events',
      probe.ringBuffer,
      'BPF ring buffer',
      'decisions reach the helper in order, and drops are counted',
      'the kernel lacks BPF ring buffers (Linux 5.8+)',
    ),
    askHoldFeature(probe),
  ];
}

/** Ask mode's hold: optional (monitor and allow-list modes need none of it). */
function askHoldFeature(probe: KernelFeatures): KernelFeature {
  const { mechanism, detail } = probe.hold;
  return {
    id: 'ask-hold',
    label: 'Ask mode (holding connections)',
    available: mechanism !== null,
    required: false,
    reduced: false,
    form: mechanism === null ? 'unavailable' : 'SYN held under a sock_ops timer, released by a loopback kick',
    why: detail,
  };
}
