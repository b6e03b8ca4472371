// The test VM's initramfs: static busybox, the init script (guest-init.sh) and the kernel
// package's own modules that mounting the host's root over virtio-9p needs (plus veth for the
// tests' network namespaces), in load order. Written as an uncompressed newc cpio archive.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { UnpackedKernel } from './kernel-packages.js';

/** Modules the guest loads at boot (with what they depend on); built-in ones are skipped. */
export const BOOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'veth'] as const;

const BUSYBOX = '/bin/busybox';
const INIT_SCRIPT = join(__dirname, 'guest-init.sh');

/** A module file of the package: its path and whether it is xz-compressed. */
interface ModuleFile {
  path: string;
  xz: boolean;
}

const moduleName = (file: string) => file.replace(/\.ko(\.xz)?$/, '').replace(/-/g, '_');

function listModules(dir: string, into = new Map<string, ModuleFile>()): Map<string, ModuleFile> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) listModules(path, into);
    else if (/\.ko(\.xz)?$/.test(entry.name))
      into.set(moduleName(entry.name), { path, xz: entry.name.endsWith('.xz') });
    else if (/\.ko\.\w+$/.test(entry.name))
      throw new Error(`${path}: only plain and xz-compressed modules are supported`);
  }
  return into;
}

function moduleBytes(file: ModuleFile): Buffer {
  if (!file.xz) return readFileSync(file.path);
  return execFileSync(BUSYBOX, ['xz', '-dc', file.path], { maxBuffer: 256 << 20 });
}

/** The module's `depends=` entry of its .modinfo section (NUL-separated key=value strings). */
function dependsOf(bytes: Buffer): string[] {
  const marker = Buffer.from('\0depends=');
  const at = bytes.indexOf(marker);
  if (at < 0) return [];
  const start = at + marker.length;
  const end = bytes.indexOf(0, start);
  const value = bytes.subarray(start, end).toString('latin1');
  return value ? value.split(',').map((name) => name.replace(/-/g, '_')) : [];
}

/** The modules to insmod, dependencies first, each with its (decompressed) bytes. */
export function bootModules(
  kernel: UnpackedKernel,
  wanted: readonly string[] = BOOT_MODULES,
): Array<{ name: string; bytes: Buffer }> {
  const files = listModules(join(kernel.modulesDir, 'kernel'));
  const builtinList = join(kernel.modulesDir, 'modules.builtin');
  const builtin = new Set(
    existsSync(builtinList)
      ? readFileSync(builtinList, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => moduleName(line.split('/').pop()!))
      : [],
  );
  const ordered: Array<{ name: string; bytes: Buffer }> = [];
  const seen = new Set<string>();
  const visit = (name: string, chain: string[]) => {
    if (seen.has(name) || builtin.has(name)) return;
    seen.add(name);
    const file = files.get(name);
    if (!file)
      throw new Error(
        `${kernel.packageName}: module ${name} (needed by ${chain.join(' <- ') || 'the boot'}) is neither a file nor built in`,
      );
    const bytes = moduleBytes(file);
    for (const dep of dependsOf(bytes)) visit(dep, [name, ...chain]);
    ordered.push({ name, bytes });
  };
  for (const name of wanted) visit(name, []);
  return ordered;
}

/** Writes cpio "newc" entries: a header of 13 hex fields, the name, the data, each padded to 4 bytes. */
class NewcWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;
  private inode = 1;

  private push(buffer: Buffer): void {
    this.parts.push(buffer);
    this.size += buffer.length;
  }

  private pad(): void {
    const rest = this.size % 4;
    if (rest) this.push(Buffer.alloc(4 - rest));
  }

  private entry(name: string, mode: number, data: Buffer, rdev: [number, number] = [0, 0]): void {
    const fields = [
      this.inode++,
      mode,
      0,
      0,
      1,
      0,
      data.length,
      0,
      0,
      rdev[0],
      rdev[1],
      Buffer.byteLength(name) + 1,
      0,
    ];
    this.push(Buffer.from('070701' + fields.map((n) => n.toString(16).padStart(8, '0')).join(''), 'latin1'));
    this.push(Buffer.from(`${name}\0`, 'utf8'));
    this.pad();
    this.push(data);
    this.pad();
  }

  dir(name: string): void {
    this.entry(name, 0o040755, Buffer.alloc(0));
  }

  file(name: string, data: Buffer, perm = 0o644): void {
    this.entry(name, 0o100000 | perm, data);
  }

  charDevice(name: string, major: number, minor: number): void {
    this.entry(name, 0o020600, Buffer.alloc(0), [major, minor]);
  }

  finish(): Buffer {
    this.entry('TRAILER!!!', 0, Buffer.alloc(0));
    return Buffer.concat(this.parts);
  }
}

/** The initramfs for one kernel, as the bytes of a newc archive. */
export function buildInitramfs(kernel: UnpackedKernel): Buffer {
  const cpio = new NewcWriter();
  for (const dir of ['bin', 'dev', 'proc', 'sys', 'newroot', 'modules']) cpio.dir(dir);
  // The kernel opens /dev/console for init's stdio before devtmpfs is mounted.
  cpio.charDevice('dev/console', 5, 1);
  cpio.file('bin/busybox', readFileSync(BUSYBOX), 0o755);
  cpio.file('init', readFileSync(INIT_SCRIPT), 0o755);
  const modules = bootModules(kernel);
  for (const { name, bytes } of modules) cpio.file(`modules/${name}.ko`, bytes);
  cpio.file('modules/load-order', Buffer.from(modules.map((m) => m.name).join('\n') + '\n'));
  return cpio.finish();
}
