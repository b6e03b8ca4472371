// The most recent apps and hosts seen in the event stream, for the tray's "Block recent…" menu.
import type { ConnectionEvent } from '../contract/index.js';

export interface RecentApp {
  appId: number;
  name: string;
  lastSeen: number;
  blocked: boolean;
}

export interface RecentHost {
  /** What a block rule would name: the resolved name, or the address. */
  remote: string;
  appName: string;
  lastSeen: number;
  blocked: boolean;
}

export class RecentActivity {
  private readonly apps = new Map<number, RecentApp>();
  private readonly hosts = new Map<string, RecentHost>();

  constructor(private readonly limit = 8) {}

  record(events: readonly ConnectionEvent[]): void {
    for (const event of events) {
      const blocked = event.verdict === 'block';
      // Delete then set: a Map keeps insertion order, so the newest ends up last.
      this.apps.delete(event.appId);
      this.apps.set(event.appId, {
        appId: event.appId,
        name: event.comm || `app ${event.appId}`,
        lastSeen: event.time,
        blocked,
      });
      const remote = event.remoteName ?? event.remoteAddr;
      this.hosts.delete(remote);
      this.hosts.set(remote, { remote, appName: event.comm, lastSeen: event.time, blocked });
    }
    trim(this.apps, this.limit);
    trim(this.hosts, this.limit);
  }

  /** Newest first. */
  recentApps(): RecentApp[] {
    return [...this.apps.values()].reverse();
  }

  recentHosts(): RecentHost[] {
    return [...this.hosts.values()].reverse();
  }
}

function trim<K, V>(map: Map<K, V>, limit: number): void {
  for (const key of map.keys()) {
    if (map.size <= limit) return;
    map.delete(key);
  }
}
