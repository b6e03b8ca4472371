// The benchmark's private network. Two client lanes, each a network namespace with a test cgroup
// for its load generator and a veth pair to one shared server namespace:
//   - the firewall lane, where the firewall under test is installed (netfilter rules in its
//     namespace, OpenSnitch's daemon there, Portcullis's programs on its cgroup);
//   - the baseline lane, identical and never firewalled.
// Measuring the two lanes back to back gives each figure a baseline taken seconds apart, whatever
// the rest of the (shared, noisy) machine is doing. Nothing touches the host's own network
// namespace; the sandbox removes it all.
import { randomInt } from 'node:crypto';
import type { Sandbox } from '../../test/support/sandbox.js';
import { onClientCpu, onOtherCpu } from './cpu-pinning.js';
import { LineProcess, run } from './process.js';

export type TrafficPath = 'loopback' | 'veth';

export interface Lane {
  name: 'firewall' | 'baseline';
  netns: string;
  /** The cgroup holding this lane's load generator (never the root cgroup). */
  cgroup: string;
  /** This lane's end of its veth, and the server namespace's end. */
  clientAddr: string;
  serverAddr: string;
}

export interface Lab {
  firewall: Lane;
  baseline: Lane;
  serverNs: string;
}

function makeLane(sandbox: Sandbox, name: Lane['name'], serverNs: string, subnet: string, index: number): Lane {
  const netns = `pcl-${sandbox.tag}-b${name[0]}`;
  run('ip', ['netns', 'add', netns]);
  sandbox.defer(() => {
    run('ip', ['netns', 'del', netns]);
  });
  run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  const clientAddr = `${subnet}.${index * 4 + 1}`;
  const serverAddr = `${subnet}.${index * 4 + 2}`;
  // Created inside the lane's namespace, so never for a moment on the host's network.
  const clientIf = `pclc${name[0]}${sandbox.tag}`;
  const serverIf = `pcls${name[0]}${sandbox.tag}`;
  run('ip', ['-n', netns, 'link', 'add', clientIf, 'type', 'veth', 'peer', 'name', serverIf, 'netns', serverNs]);
  run('ip', ['-n', netns, 'addr', 'add', `${clientAddr}/30`, 'dev', clientIf]);
  run('ip', ['-n', serverNs, 'addr', 'add', `${serverAddr}/30`, 'dev', serverIf]);
  run('ip', ['-n', netns, 'link', 'set', clientIf, 'up']);
  run('ip', ['-n', serverNs, 'link', 'set', serverIf, 'up']);
  return { name, netns, cgroup: sandbox.makeCgroup(`bench-${name}`), clientAddr, serverAddr };
}

export function makeLab(sandbox: Sandbox): Lab {
  const serverNs = `pcl-${sandbox.tag}-bs`;
  run('ip', ['netns', 'add', serverNs]);
  sandbox.defer(() => {
    run('ip', ['netns', 'del', serverNs]);
  });
  run('ip', ['-n', serverNs, 'link', 'set', 'lo', 'up']);
  const subnet = `10.253.${randomInt(16, 240)}`;
  return {
    serverNs,
    firewall: makeLane(sandbox, 'firewall', serverNs, subnet, 0),
    baseline: makeLane(sandbox, 'baseline', serverNs, subnet, 1),
  };
}

/** Where a sink listens and the generator aims, for one lane and path. */
export function endpoints(lab: Lab, lane: Lane, path: TrafficPath): { serverNs: string; serverAddr: string } {
  return path === 'loopback'
    ? { serverNs: lane.netns, serverAddr: '127.0.0.1' }
    : { serverNs: lab.serverNs, serverAddr: lane.serverAddr };
}

/** A process in a lane's namespace and cgroup (what a firewall on that lane sees). */
export function spawnClient(sandbox: Sandbox, lane: Lane, argv: string[]): LineProcess {
  return new LineProcess(
    argv.slice(1, 2).join(' '),
    sandbox.spawnInCgroup(lane.cgroup, onClientCpu(argv), { netns: lane.netns }),
  );
}

/** A process in a namespace, outside the test cgroups (sinks, the peers' daemons). */
export function spawnInNs(sandbox: Sandbox, netns: string, argv: string[]): LineProcess {
  return new LineProcess(
    argv[0] === 'opensnitchd' ? 'opensnitchd' : argv.slice(1, 2).join(' '),
    sandbox.spawnInNetns(netns, onOtherCpu(argv)),
  );
}
