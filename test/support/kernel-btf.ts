// What the running kernel offers, read from its BTF with bpftool: a check independent of the
// addon's own probes, for tests that expect a form of the fast path.
import { execFileSync } from 'node:child_process';

/** Whether the running kernel's BTF has the function `name` (a kfunc). */
export function kernelBtfHasFunc(name: string): boolean {
  const dump = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux'], {
    encoding: 'utf8',
    maxBuffer: 512 << 20,
  });
  return dump.includes(`] FUNC '${name}' `);
}

/** The fast path's form the loader picks on this kernel (see FastPathHome in native/api.ts). */
export function expectedFastPath(): 'entry' | 'socket-storage' {
  return kernelBtfHasFunc('bpf_cast_to_kern_ctx') ? 'entry' : 'socket-storage';
}
