// Loads the addon (native/src) and says what it exports. Internal to native/: the product facade
// (index.ts) and the test facade (testing.ts) are its only users.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FastPathHome, FirewallOptions, Retirement } from './api.js';
import type { RuleMaps } from './compiler/apply.js';
import { NativeError } from './errors.js';

export type BindingKind = 'exe' | 'cgroup' | 'tgid' | 'unit' | 'path';

export interface BindingStep {
  kind: BindingKind;
  op: 'upsert' | 'delete' | 'clear' | 'unclaim';
  keys?: Buffer;
  values?: Buffer;
}

/** The addon's Firewall: the RuleMaps an apply drives, and the rest of the firewall's verbs. */
export interface NativeFirewall extends RuleMaps {
  readonly adopted: boolean;
  readonly replaced: string | null;
  readonly fastPath: FastPathHome;
  retireOldBuild(): Promise<Retirement>;
  setEnforcing(on: boolean): Promise<void>;
  setAsk(holdMs: number, helperTgid: number): Promise<void>;
  attachHolds(): Promise<void>;
  readHolds(): Promise<Buffer>;
  answerHolds(answers: Buffer): Promise<Int32Array>;
  forgetHolds(keys: Buffer): Promise<void>;
  decideFlows(queries: Buffer): Promise<Uint8Array>;
  updateBindings(steps: BindingStep[]): Promise<void>;
  readCounters(): Promise<{
    allowed: bigint;
    blocked: bigint;
    events: bigint;
    drops: bigint;
    ruleHits: Array<[number, bigint]>;
  }>;
  readFlows(): Promise<Buffer>;
  drainTally(): Promise<Buffer>;
  startEvents(onBatch: (events: Buffer, drops: bigint) => void): void;
  stopEvents(): void;
  close(): void;
}

export interface NativeTestPrograms {
  run(program: string, packet: Buffer, repeat: number): { retval: number; durationNs: number };
  mapMemory(): number;
  close(): void;
}

export interface NativeFeatures {
  ringBuffer: boolean;
  lpmTrie: boolean;
  skStorage: boolean;
  arrayOfMaps: boolean;
  cgroupSockAddr: boolean;
  cgroupSkb: boolean;
  cgroupSock: boolean;
  tpBtf: boolean;
  bpfLink: boolean;
  sockRelease: boolean;
  atomicFetch: boolean;
  kernelContextCast: boolean;
  sockOps: boolean;
  connectSetsockopt: boolean;
}

export interface NativeAddon {
  Firewall: {
    open(
      cgroup: string,
      pinDir: string,
      ringBytes: number,
      fastPath?: NonNullable<FirewallOptions['fastPath']>,
    ): Promise<NativeFirewall>;
    detach(pinDir: string): Promise<void>;
    setAsideLinks(pinDir: string): string[];
  };
  TestPrograms: { load(firewall: NativeFirewall): Promise<NativeTestPrograms> };
  setErrorClass(errorClass: typeof NativeError): void;
  probeBpf(): Promise<NativeFeatures>;
  peerCredentials(fd: number): { pid: number; uid: number; gid: number };
  trimNativeHeap(): boolean;
}

/** The package root: the nearest directory above this file holding the built addon. Works from
 *  source (tsx) and from tsc output under build/. */
function findAddon(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, 'native', 'build', 'Release', 'portcullis.node');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) break;
  }
  throw new Error('native addon not built: run `npm run build:bpf && npm run build:native`');
}

let loaded: NativeAddon | undefined;

export function addon(): NativeAddon {
  if (!loaded) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const made = require(findAddon()) as NativeAddon;
    made.setErrorClass(NativeError);
    loaded = made;
  }
  return loaded;
}

/** The addon's firewall behind each facade Firewall, for the test facade (testing.ts). */
export const nativeFirewalls = new WeakMap<object, NativeFirewall>();
