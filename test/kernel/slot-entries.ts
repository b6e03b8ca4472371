// The fast path's pcl_slots entries (struct pcl_slot: an owner cookie, then the owner's struct
// pcl_sock), read and written from user space with bpftool through the fixture's pinned map.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pcl_slot, pcl_sock } from '../../native/abi.js';
import { kernelBtfHasFunc } from '../support/kernel-btf.js';
import type { KernelFixture } from './kernel-fixture.js';

export const SLOTS = 65536; // PCL_SLOTS in bpf/portcullis.h
export const hasKernCtxCast = kernelBtfHasFunc('bpf_cast_to_kern_ctx');
/** Test options for a test of the entry form: skipped (with the reason) where the kernel cannot run it. */
export const needsKfunc = hasKernCtxCast
  ? {}
  : { skip: 'the kernel lacks bpf_cast_to_kern_ctx (before 6.2): the fast path reads socket storage' };
const ENTRY_BYTES = pcl_slot.SIZE;

function slotsPin(fixture: KernelFixture): string {
  return `${fixture.pinDir}/maps/pcl_slots`;
}

/** pcl_slots' size as the kernel reports it. */
export function slotsSize(fixture: KernelFixture): number {
  const out = execFileSync('bpftool', ['-j', 'map', 'show', 'pinned', slotsPin(fixture)], { encoding: 'utf8' });
  return (JSON.parse(out) as { max_entries: number }).max_entries;
}

function keyBytes(index: number): string[] {
  return [0, 8, 16, 24].map((shift) => `0x${((index >> shift) & 0xff).toString(16)}`);
}

const indexOf = (cookie: bigint): number => Number(cookie % BigInt(SLOTS));

/** What an entry holds: its owner cookie, and of its state the flags, close_state and totals. */
export interface SlotEntry {
  owner: bigint;
  flags: number;
  closeState: bigint;
  bytesOut: bigint;
  bytesIn: bigint;
  packetsOut: bigint;
  packetsIn: bigint;
}

/** The pcl_slots entry `cookie` indexes, read from the kernel with bpftool. */
export function slotEntry(fixture: KernelFixture, cookie: bigint): SlotEntry {
  const key = keyBytes(indexOf(cookie));
  const out = execFileSync('bpftool', ['-j', 'map', 'lookup', 'pinned', slotsPin(fixture), 'key', ...key], {
    encoding: 'utf8',
  });
  const value = (JSON.parse(out) as { value: string[] }).value;
  const uintAt = (offset: number, bytes: number): bigint =>
    value.slice(offset, offset + bytes).reduceRight((word, byte) => (word << 8n) | BigInt(Number(byte)), 0n);
  const sock = (field: number, bytes = 8) => uintAt(pcl_slot.sock + field, bytes);
  return {
    owner: uintAt(pcl_slot.owner, 8),
    flags: Number(sock(pcl_sock.flags, 4)),
    closeState: sock(pcl_sock.close_state),
    bytesOut: sock(pcl_sock.bytes_out),
    bytesIn: sock(pcl_sock.bytes_in),
    packetsOut: sock(pcl_sock.packets_out),
    packetsIn: sock(pcl_sock.packets_in),
  };
}

export function slotOwner(fixture: KernelFixture, cookie: bigint): bigint {
  return slotEntry(fixture, cookie).owner;
}

/** An entry's bytes as bpftool takes them: owned by `owner`, its state zeroed but for its cookie and `closeState`. */
function entryValue(owner: bigint, closeState: bigint): string {
  const bytes = new Array<bigint>(ENTRY_BYTES).fill(0n);
  const putU64 = (offset: number, word: bigint) => {
    for (let i = 0; i < 8; i++) bytes[offset + i] = (word >> BigInt(8 * i)) & 0xffn;
  };
  putU64(pcl_slot.owner, owner);
  putU64(pcl_slot.sock + pcl_sock.cookie, owner);
  putU64(pcl_slot.sock + pcl_sock.close_state, closeState);
  return bytes.map((b) => `0x${b.toString(16)}`).join(' ');
}

/** Writes `owner` into every pcl_slots entry, its state zeroed but for `closeState`, in one bpftool batch. */
export function setEveryOwner(fixture: KernelFixture, owner: bigint, closeState = 0n): void {
  const value = entryValue(owner, closeState);
  const lines = Array.from(
    { length: SLOTS },
    (_, i) => `map update pinned ${slotsPin(fixture)} key ${keyBytes(i).join(' ')} value ${value}`,
  );
  const batch = join(fixture.sandbox.makeTempDir('slots'), 'batch');
  writeFileSync(batch, `${lines.join('\n')}\n`);
  execFileSync('bpftool', ['batch', 'file', batch], { stdio: 'ignore' });
}

/**
 * Gives the entry `cookie` indexes to `newOwner`, with a fresh state, as a new socket whose cookie
 * indexes it takes it (born_in_entry).
 */
export function giveEntryTo(fixture: KernelFixture, cookie: bigint, newOwner: bigint): void {
  const key = keyBytes(indexOf(cookie));
  const value = entryValue(newOwner, 0n).split(' ');
  execFileSync('bpftool', ['map', 'update', 'pinned', slotsPin(fixture), 'key', ...key, 'value', ...value], {
    stdio: 'ignore',
  });
}
