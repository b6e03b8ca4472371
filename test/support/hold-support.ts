// Ask mode's hold has a minimum kernel (doctor's 'ask-hold' line): below it, a test of holding
// skips with the kernel's reason instead of failing on a feature this kernel cannot have.
import type { TestContext } from 'node:test';
import { findBpffsMounts, findCgroup2Mount } from '../../main/common/cgroup2.js';
import { probeKernel, type HoldSupport } from '../../native/index.js';

let probed: Promise<HoldSupport> | null = null;

/** What the running kernel offers ask mode, probed once per test process as the helper probes it. */
export function holdSupport(): Promise<HoldSupport> {
  probed ??= probeKernel({
    bpffs: '/sys/fs/bpf',
    cgroup2Mount: findCgroup2Mount(),
    bpffsMounts: findBpffsMounts(),
  }).then((features) => features.hold);
  return probed;
}

/** Skips the test (saying why) and returns true when this kernel cannot hold connections. */
export async function skippedWithoutHold(t: TestContext): Promise<boolean> {
  const { mechanism, detail } = await holdSupport();
  if (mechanism !== null) return false;
  t.skip(detail);
  return true;
}

/** A test body that runs only where the kernel can hold connections (skipping, with the reason, elsewhere). */
export function whenHeld(body: () => Promise<void>): (t: TestContext) => Promise<void> {
  return async (t) => {
    if (!(await skippedWithoutHold(t))) await body();
  };
}
