// Debian's own kernel packages for the kernel matrix: the newest of a series in apt, downloaded
// with apt-get and unpacked once into a cache under build/ (CI recreates it from apt each run).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** A kernel series the matrix knows how to find in apt. */
export interface KernelSeries {
  name: string;
  /** Package names of the series; the capture groups order them (newest = largest). */
  pattern: RegExp;
}

export const SERIES: readonly KernelSeries[] = [
  // Debian 12's default kernel: the ABI number grows with each point release.
  { name: '6.1', pattern: /^linux-image-6\.1\.0-(\d+)-amd64-unsigned$/ },
  // Debian 12's newer kernel (from its security and point updates).
  { name: '6.12', pattern: /^linux-image-6\.12\.(\d+)\+deb12-amd64-unsigned$/ },
];

/** An unpacked kernel package: the image to boot and the tree its modules live in. */
export interface UnpackedKernel {
  packageName: string;
  /** The kernel release (uname -r), e.g. 6.1.0-57-amd64. */
  release: string;
  vmlinuz: string;
  /** lib/modules/<release> of the package. */
  modulesDir: string;
}

function run(command: string, args: string[], cwd?: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

/** The newest package of a series that apt knows of (run apt-get update first if none is found). */
export function newestPackage(series: KernelSeries): string {
  const names = run('apt-cache', ['pkgnames', 'linux-image-'])
    .split('\n')
    .filter((name) => series.pattern.test(name));
  if (names.length === 0) {
    throw new Error(`no package of the ${series.name} series (${series.pattern.source}) in apt: run apt-get update`);
  }
  const rank = (name: string) => Number(series.pattern.exec(name)![1]);
  return names.sort((a, b) => rank(b) - rank(a))[0]!;
}

/** The series a name picks: a series name ("6.1") or an exact package name. */
export function packageFor(nameOrPackage: string): string {
  const series = SERIES.find((s) => s.name === nameOrPackage);
  if (series) return newestPackage(series);
  if (/^linux-image-[\w.+-]+$/.test(nameOrPackage)) return nameOrPackage;
  throw new Error(
    `unknown kernel '${nameOrPackage}': give a series (${SERIES.map((s) => s.name).join(', ')}) or a linux-image package name`,
  );
}

/**
 * Downloads (apt-get download) and unpacks (dpkg-deb -x) a kernel package into cacheDir/<package>,
 * unless a previous run did. Unpacked under a temporary name and renamed when complete, so an
 * interrupted run never leaves a half tree that a later run would trust.
 */
export function unpackKernel(packageName: string, cacheDir: string): UnpackedKernel {
  const tree = join(cacheDir, packageName);
  if (!existsSync(join(tree, 'boot'))) {
    const debs = join(cacheDir, 'debs');
    mkdirSync(debs, { recursive: true });
    const findDeb = () => readdirSync(debs).find((f) => f.startsWith(`${packageName}_`) && f.endsWith('.deb'));
    if (!findDeb()) run('apt-get', ['download', '-q', packageName], debs);
    const deb = findDeb();
    if (!deb) throw new Error(`apt-get download ${packageName} left no .deb in ${debs}`);
    const partial = `${tree}.partial`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    run('dpkg-deb', ['-x', join(debs, deb), partial]);
    renameSync(partial, tree);
  }
  const boot = join(tree, 'boot');
  const image = readdirSync(boot).find((f) => f.startsWith('vmlinuz-'));
  if (!image) throw new Error(`${packageName} holds no vmlinuz in boot/`);
  const release = image.slice('vmlinuz-'.length);
  const modulesDir = join(tree, 'lib', 'modules', release);
  if (!existsSync(modulesDir)) throw new Error(`${packageName} holds no lib/modules/${release}`);
  return { packageName, release, vmlinuz: join(boot, image), modulesDir };
}
