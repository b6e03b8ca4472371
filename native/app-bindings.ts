// App bindings as the kernel's maps hold them: executables by (dev, ino) in pcl_exe, cgroup ids in
// pcl_cgrp_app, processes by tgid in pcl_tgid_app, each to an app id.
import * as abi from './abi.js';
import type { BindingKind, BindingStep } from './addon.js';
import type { AppBindingChange, AppBindings } from './api.js';

const EXE_KEY = abi.pcl_exe_key;

/** st_dev as stat(2) reports it (new_encode_dev) -> the kernel's dev_t (major << 20 | minor). */
function kernelDev(userDev: bigint): bigint {
  const major = ((userDev >> 8n) & 0xfffn) | ((userDev >> 32n) & ~0xfffn);
  const minor = (userDev & 0xffn) | ((userDev >> 12n) & ~0xffn);
  return (major << 20n) | minor;
}

/** The bindings' keys and app ids, packed per map. */
function pack(bindings: Partial<AppBindings>): Array<{ kind: BindingKind; keys: Buffer; values: Buffer }> {
  const exe = bindings.executables ?? [];
  const cgroups = bindings.cgroups ?? [];
  const processes = bindings.processes ?? [];
  const values = (ids: number[]) => {
    const buf = Buffer.alloc(ids.length * 4);
    ids.forEach((id, i) => buf.writeUInt32LE(id, i * 4));
    return buf;
  };
  const exeKeys = Buffer.alloc(exe.length * EXE_KEY.SIZE);
  exe.forEach((e, i) => {
    exeKeys.writeBigUInt64LE(kernelDev(e.dev), i * EXE_KEY.SIZE + EXE_KEY.dev);
    exeKeys.writeBigUInt64LE(e.ino, i * EXE_KEY.SIZE + EXE_KEY.ino);
  });
  const cgroupKeys = Buffer.alloc(cgroups.length * 8);
  cgroups.forEach((c, i) => cgroupKeys.writeBigUInt64LE(c.cgroupId, i * 8));
  const tgidKeys = Buffer.alloc(processes.length * 4);
  processes.forEach((p, i) => tgidKeys.writeUInt32LE(p.tgid, i * 4));
  return [
    { kind: 'exe', keys: exeKeys, values: values(exe.map((e) => e.appId)) },
    { kind: 'cgroup', keys: cgroupKeys, values: values(cgroups.map((c) => c.appId)) },
    { kind: 'tgid', keys: tgidKeys, values: values(processes.map((p) => p.appId)) },
  ];
}

/** The steps that make the change, in its order: clear (replace), then removals, then additions. */
export function bindingSteps(change: AppBindingChange): BindingStep[] {
  const steps: BindingStep[] = [];
  if (change.replace) for (const kind of ['exe', 'cgroup', 'tgid'] as const) steps.push({ kind, op: 'clear' });
  if (change.remove)
    for (const part of pack(change.remove))
      if (part.keys.length > 0) steps.push({ kind: part.kind, op: 'delete', keys: part.keys });
  if (change.add)
    for (const part of pack(change.add))
      if (part.keys.length > 0) steps.push({ kind: part.kind, op: 'upsert', keys: part.keys, values: part.values });
  return steps;
}
