// App bindings as the kernel's maps hold them (bpf/portcullis.h "Executables and processes"):
// executables by (dev, ino) in pcl_exe and by path in pcl_path_app, cgroup ids in pcl_cgrp_app,
// processes by tgid in pcl_procs, unit names in pcl_units.
import * as abi from './abi.js';
import type { BindingKind, BindingStep } from './addon.js';
import type { AppBindingChange, AppBindings } from './api.js';

const EXE_KEY = abi.pcl_exe_key;
const PROC = abi.pcl_proc;
const CGROUP = abi.pcl_cgroup;
const UNIT = abi.pcl_unit;
const { PCL_PATH_MAX, PCL_UNIT_MAX, PCL_PROC_EXE, PCL_UNIT_ROOT_ONLY } = abi;

/** Longest path (bytes, NUL excluded) and unit name key that fit the kernel's keys. */
export const PATH_MAX_BYTES = PCL_PATH_MAX - 1;
export const UNIT_MAX_BYTES = PCL_UNIT_MAX - 1;

/** st_dev as stat(2) reports it (new_encode_dev) -> the kernel's dev_t (major << 20 | minor). */
export function kernelDev(userDev: bigint): bigint {
  const major = ((userDev >> 8n) & 0xfffn) | ((userDev >> 32n) & ~0xfffn);
  const minor = (userDev & 0xffn) | ((userDev >> 12n) & ~0xffn);
  return (major << 20n) | minor;
}

/** A text key zero-padded to `size` bytes (the kernel compares the whole buffer). */
function textKeys(texts: string[], size: number, what: string): Buffer {
  const keys = Buffer.alloc(texts.length * size);
  texts.forEach((text, i) => {
    const bytes = Buffer.from(text, 'utf8');
    if (bytes.length === 0 || bytes.length >= size || bytes.includes(0))
      throw new RangeError(`${what} "${text}" does not fit the kernel's ${size - 1}-byte key`);
    bytes.copy(keys, i * size);
  });
  return keys;
}

/** Values of `size` bytes each, written by `fill` (the rest zero). */
function records<T>(items: readonly T[], size: number, fill: (buf: Buffer, at: number, item: T) => void): Buffer {
  const buf = Buffer.alloc(items.length * size);
  items.forEach((item, i) => fill(buf, i * size, item));
  return buf;
}

const appIds = (ids: readonly number[]) => records(ids, 4, (buf, at, id) => buf.writeUInt32LE(id, at));

/** The bindings' keys and values, packed per map. */
function pack(bindings: Partial<AppBindings>): Array<{ kind: BindingKind; keys: Buffer; values: Buffer }> {
  const exe = bindings.executables ?? [];
  const paths = bindings.paths ?? [];
  const cgroups = bindings.cgroups ?? [];
  const processes = bindings.processes ?? [];
  const units = bindings.units ?? [];
  return [
    {
      kind: 'exe',
      keys: records(exe, EXE_KEY.SIZE, (buf, at, e) => {
        buf.writeBigUInt64LE(kernelDev(e.dev), at + EXE_KEY.dev);
        buf.writeBigUInt64LE(e.ino, at + EXE_KEY.ino);
      }),
      values: appIds(exe.map((e) => e.appId)),
    },
    {
      kind: 'path',
      keys: textKeys(
        paths.map((p) => p.path),
        PCL_PATH_MAX,
        'executable path',
      ),
      values: appIds(paths.map((p) => p.appId)),
    },
    {
      kind: 'cgroup',
      keys: records(cgroups, 8, (buf, at, c) => buf.writeBigUInt64LE(c.cgroupId, at)),
      values: records(cgroups, CGROUP.SIZE, (buf, at, c) => buf.writeUInt32LE(c.appId, at + CGROUP.app_id)),
    },
    {
      kind: 'tgid',
      keys: records(processes, 4, (buf, at, p) => buf.writeUInt32LE(p.tgid, at)),
      // Found running the app's executable: the app holds wherever the process goes.
      values: records(processes, PROC.SIZE, (buf, at, p) => {
        buf.writeUInt32LE(p.appId, at + PROC.app_id);
        buf.writeUInt32LE(PCL_PROC_EXE, at + PROC.flags);
      }),
    },
    {
      kind: 'unit',
      keys: textKeys(
        units.map((u) => u.unit),
        PCL_UNIT_MAX,
        'unit name',
      ),
      values: records(units, UNIT.SIZE, (buf, at, u) => {
        buf.writeUInt32LE(u.appId, at + UNIT.app_id);
        buf.writeUInt32LE(u.rootOnly ? PCL_UNIT_ROOT_ONLY : 0, at + UNIT.flags);
      }),
    },
  ];
}

const KINDS: readonly BindingKind[] = ['exe', 'path', 'cgroup', 'tgid', 'unit'];

/** The steps that make the change, in its order: clear (replace), withdrawn claims, removals, additions. */
export function bindingSteps(change: AppBindingChange): BindingStep[] {
  const steps: BindingStep[] = [];
  if (change.replace) for (const kind of KINDS) steps.push({ kind, op: 'clear' });
  else if (change.resetUnits) steps.push({ kind: 'unit', op: 'clear' });
  if (change.unclaim && change.unclaim.length > 0)
    steps.push({ kind: 'cgroup', op: 'unclaim', keys: appIds(change.unclaim) });
  if (change.remove)
    for (const part of pack(change.remove))
      if (part.keys.length > 0) steps.push({ kind: part.kind, op: 'delete', keys: part.keys });
  if (change.add)
    for (const part of pack(change.add))
      if (part.keys.length > 0) steps.push({ kind: part.kind, op: 'upsert', keys: part.keys, values: part.values });
  return steps;
}
