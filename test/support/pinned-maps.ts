// Maps pinned by tests (bpftool map create): what another build or someone else left in bpffs.
import { execFileSync } from 'node:child_process';

export interface MapShape {
  type: string;
  keyBytes: number;
  valueBytes: number;
  entries: number;
}

/** Makes a map of `shape` pinned at `path` (its name cut to the kernel's 15 characters). */
export function pinMap(path: string, name: string, shape: MapShape): void {
  execFileSync('bpftool', [
    'map',
    'create',
    path,
    'type',
    shape.type,
    'key',
    String(shape.keyBytes),
    'value',
    String(shape.valueBytes),
    'entries',
    String(shape.entries),
    'name',
    name.slice(0, 15),
  ]);
}

/** A small map pinned at `path`: a pin that is none of ours. */
export function pinStrayMap(path: string, name: string): void {
  pinMap(path, name, { type: 'array', keyBytes: 4, valueBytes: 4, entries: 1 });
}
