// One run of the test VM: qemu (TCG: these machines have no KVM) boots a kernel package's image
// with our initramfs, the host's root shared read-only over virtio-9p and a writable job directory
// holding the command to run. The guest's serial console streams back; its exit code comes back in
// the job directory. A guest that does not power off in time is killed.
import { spawn } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { buildInitramfs } from './initramfs.js';
import type { UnpackedKernel } from './kernel-packages.js';

export interface BootOptions {
  /** The repository the guest runs in (seen at the same path through the shared root). */
  repo: string;
  /** The shell command run.sh ends with (in `repo`, with node on PATH). */
  command: string;
  timeoutMs: number;
  memoryMiB: number;
  cpus: number;
  /** Every console line as it arrives. */
  onLine: (line: string) => void;
  /** Where the whole console goes (kept for CI artifacts). */
  consoleLog: string;
}

export interface BootResult {
  /** The guest command's exit code; null when the guest never reported one (timeout, panic). */
  exitCode: number | null;
  timedOut: boolean;
  /** SIGINT or SIGTERM arrived: the VM was killed (and the run should stop). */
  interrupted: boolean;
  /** Wall time from qemu's start to the init script's first line. */
  bootMs: number | null;
  /** Wall time from qemu's start to the guest's command starting. */
  readyMs: number | null;
  wallMs: number;
}

/** The command the guest's PID 1 runs chrooted in the host's root. */
function jobScript(options: BootOptions): string {
  const path = [
    dirname(process.execPath),
    '/usr/local/sbin',
    '/usr/local/bin',
    '/usr/sbin',
    '/usr/bin',
    '/sbin',
    '/bin',
  ];
  return [
    '#!/bin/sh',
    '# Written by test/kernels/boot-vm.ts for one VM run.',
    `export PATH='${path.join(':')}' HOME=/tmp LANG=C.UTF-8 NO_COLOR=1 CI='${process.env.CI ?? ''}'`,
    `cd '${options.repo}' || exit 1`,
    `echo "kernel-matrix: command starts (uptime $(cut -d' ' -f1 /proc/uptime) s)"`,
    options.command,
    '',
  ].join('\n');
}

export async function bootVm(kernel: UnpackedKernel, options: BootOptions): Promise<BootResult> {
  const work = mkdtempSync(join(tmpdir(), `portcullis-vm-${kernel.release}-`));
  try {
    const initramfs = join(work, 'initramfs.cpio');
    writeFileSync(initramfs, buildInitramfs(kernel));
    const job = join(work, 'job');
    mkdirSync(job);
    writeFileSync(join(job, 'run.sh'), jobScript(options));
    chmodSync(join(job, 'run.sh'), 0o755);
    return await runQemu(kernel, initramfs, job, options);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function qemuArgs(kernel: UnpackedKernel, initramfs: string, job: string, options: BootOptions): string[] {
  return [
    '-nodefaults',
    '-no-user-config',
    '-no-reboot',
    '-machine',
    'pc',
    '-accel',
    'tcg',
    '-cpu',
    'max',
    '-smp',
    String(options.cpus),
    '-m',
    String(options.memoryMiB),
    '-display',
    'none',
    '-serial',
    'stdio',
    '-nic',
    'none',
    '-kernel',
    kernel.vmlinuz,
    '-initrd',
    initramfs,
    // mitigations=off: the guest runs only our tests, and TCG pays dearly for them.
    '-append',
    'console=ttyS0 panic=-1 quiet mitigations=off',
    '-virtfs',
    'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs',
    `local,path=${job},mount_tag=job,security_model=none`,
  ];
}

function runQemu(kernel: UnpackedKernel, initramfs: string, job: string, options: BootOptions): Promise<BootResult> {
  const started = performance.now();
  const log = createWriteStream(options.consoleLog);
  const child = spawn('qemu-system-x86_64', qemuArgs(kernel, initramfs, job, options), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let bootMs: number | null = null;
  let readyMs: number | null = null;
  let timedOut = false;
  let pending = '';
  const decoder = new StringDecoder('utf8'); // a chunk may end inside a character
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    pending += decoder.write(chunk).replace(/\r/g, '');
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (bootMs === null && line.startsWith('kernel-matrix: init started')) bootMs = performance.now() - started;
      if (readyMs === null && line.startsWith('kernel-matrix: command starts')) readyMs = performance.now() - started;
      options.onLine(line);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const timer = setTimeout(() => {
    timedOut = true;
    options.onLine(`kernel-matrix: no power-off within ${Math.round(options.timeoutMs / 1000)} s: killing the VM`);
    child.kill('SIGKILL');
  }, options.timeoutMs);
  // Stopped from outside: the VM goes too, and the caller's cleanup still runs.
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    child.kill('SIGKILL');
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  const settle = () => {
    clearTimeout(timer);
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  };
  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      settle();
      log.end();
      reject(new Error(`cannot run qemu-system-x86_64 (apt-get install qemu-system-x86): ${error.message}`));
    });
    child.once('close', (code, signal) => {
      settle();
      if (pending) options.onLine(pending);
      log.end();
      const exitFile = join(job, 'exit-code');
      const reported = existsSync(exitFile) ? Number(readFileSync(exitFile, 'utf8').trim()) : null;
      if (reported === null && !timedOut)
        options.onLine(`kernel-matrix: qemu ended (${code ?? signal}) with no exit code from the guest`);
      resolve({
        exitCode: reported !== null && Number.isInteger(reported) ? reported : null,
        timedOut,
        interrupted,
        bootMs,
        readyMs,
        wallMs: performance.now() - started,
      });
    });
  });
}
