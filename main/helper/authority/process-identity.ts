// The process behind a connection, as polkit names it: pid, start time and uid. The helper reads it
// when it accepts a connection, so a process that connects and exits cannot lend its connection to
// whoever gets its pid next.
import { statSync } from 'node:fs';
import { processStartTime } from '../../common/process-start.js';

export interface ProcessIdentity {
  pid: number;
  uid: number;
  /** As /proc writes it: a decimal count of clock ticks, compared and passed on as text. */
  startTime: string;
}

/**
 * The identity of a connected peer (SO_PEERCRED's pid and uid), or null when its process cannot be
 * named: no pid (a peer in another pid namespace reads as 0), already gone, or a /proc entry owned
 * by someone other than the peer's uid (the pid is no longer the peer's).
 */
export function identifyPeer(peer: { pid: number; uid: number }): ProcessIdentity | null {
  if (!Number.isInteger(peer.pid) || peer.pid <= 0) return null;
  const startTime = processStartTime(peer.pid);
  if (startTime === null) return null;
  try {
    if (statSync(`/proc/${peer.pid}`).uid !== peer.uid) return null;
  } catch {
    return null;
  }
  // Read again: the owner check above must be about the same process as the start time.
  return processStartTime(peer.pid) === startTime ? { pid: peer.pid, uid: peer.uid, startTime } : null;
}
