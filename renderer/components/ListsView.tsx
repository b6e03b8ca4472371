// The Lists view: imported lists, subscriptions and policy lists, each a group of entries shown,
// counted, enabled, disabled and removed together. Subscriptions show where they come from, when
// they were last fetched, when they will be next, and why the last fetch failed.
import { useState } from 'react';
import { useLists, ENTRIES_SHOWN } from '../stores/lists-store';
import type { RuleList } from '../../main/contract/lists';
import { formatEvery } from '../../main/contract/subscriptions';
import { listLoosening } from '../../main/contract/authority';
import { formatAgo, formatCount } from '../model/format';
import { useNow } from './use-now';

function when(time: number | null, now: number): string {
  if (time === null) return '—';
  if (time <= now) return formatAgo(time, now);
  const minutes = Math.round((time - now) / 60_000);
  return minutes < 90 ? `in ${Math.max(1, minutes)} min` : `in ${Math.round(minutes / 60)} h`;
}

function SubscribeForm({ onDone }: { onDone(): void }) {
  const subscribe = useLists((state) => state.subscribe);
  const fetching = useLists((state) => state.fetching.has(0));
  const [url, setUrl] = useState('');
  const [name, setName] = useState('');
  const [action, setAction] = useState<'block' | 'allow'>('block');
  const [every, setEvery] = useState('24h');
  const valid = /^https?:\/\/\S+$/i.test(url.trim());
  return (
    <form
      className="subscribe-form"
      aria-label="Subscribe to a list"
      onSubmit={(event) => {
        event.preventDefault();
        void subscribe({ url: url.trim(), action, every, ...(name.trim() ? { name: name.trim() } : {}) }).then(
          (update) => update && onDone(),
        );
      }}
    >
      <input
        aria-label="List URL"
        placeholder="https://example.org/blocklist.txt"
        value={url}
        onChange={(event) => setUrl(event.target.value)}
      />
      <input
        aria-label="List name"
        placeholder="name (optional)"
        value={name}
        onChange={(event) => setName(event.target.value)}
      />
      <select
        aria-label="List action"
        value={action}
        onChange={(event) => setAction(event.target.value as 'block' | 'allow')}
      >
        <option value="block">block</option>
        <option value="allow">allow (after review)</option>
      </select>
      <input aria-label="Fetch every" value={every} size={5} onChange={(event) => setEvery(event.target.value)} />
      <button className="button primary" type="submit" disabled={!valid || fetching}>
        {fetching ? 'Fetching…' : 'Subscribe'}
      </button>
    </form>
  );
}

function ListRow({ list, now }: { list: RuleList; now: number }) {
  const { setEnabled, remove, refresh, open } = useLists.getState();
  const fetching = useLists((state) => state.fetching.has(list.id) || state.fetching.has(0));
  const opened = useLists((state) => (state.opened?.id === list.id ? state.opened : null));
  const sub = list.subscription;
  const managed = list.managedBy !== null;
  const enabling = !(list.enabled && list.pendingCount === 0);
  // What the helper will ask an administrator for, in its own words (the contract's classifier).
  const adminHint = (what: string | null) => (what ? `Needs an administrator: ${what}` : undefined);
  return (
    <>
      <tr data-list-name={list.name}>
        <td>
          <button className="link" onClick={() => void open(list.id)} aria-expanded={opened !== null}>
            {list.name}
          </button>
          <div className="muted small">{managed ? `policy: ${list.managedBy}` : list.kind}</div>
        </td>
        <td>
          {list.action}
          {list.appId !== null && <span className="muted"> · app {list.appId}</span>}
        </td>
        <td className="num">
          {formatCount(list.entryCount)}
          {list.pendingCount > 0 && <div className="pending">{formatCount(list.pendingCount)} wait for review</div>}
        </td>
        <td className="mono small">{sub?.url ?? list.source}</td>
        <td>{when(sub?.lastSuccessAt ?? list.updatedAt, now)}</td>
        <td>{sub ? `${when(sub.nextCheckAt, now)} (every ${formatEvery(sub.everyMs)})` : '—'}</td>
        <td>
          {sub?.error && (
            <span className="field-error" role="alert" title={sub.error}>
              {sub.error}
            </span>
          )}
        </td>
        <td className="actions">
          <button
            className={`button small${list.enabled && list.pendingCount === 0 ? '' : ' primary'}`}
            disabled={managed}
            aria-label={`${enabling ? 'Enable' : 'Disable'} list ${list.name}`}
            title={adminHint(listLoosening(list, enabling ? 'enable' : 'disable'))}
            onClick={() => void setEnabled(list.id, enabling)}
          >
            {!enabling ? 'Disable' : list.action === 'allow' ? 'Review & enable' : 'Enable'}
          </button>
          {sub && (
            <button className="button small" disabled={fetching} onClick={() => void refresh(list.id)}>
              {fetching ? 'Fetching…' : 'Update'}
            </button>
          )}
          <button
            className="button small danger-outline"
            disabled={managed}
            aria-label={`Remove list ${list.name}`}
            title={adminHint(listLoosening(list, 'remove'))}
            onClick={() => void remove(list.id)}
          >
            Remove
          </button>
        </td>
      </tr>
      {opened && (
        <tr className="list-entries">
          <td colSpan={8}>
            <ul className="entries mono" aria-label={`Entries of ${list.name}`}>
              {opened.entries.map((entry) => (
                <li key={entry.id ?? entry.remote}>{entry.remote}</li>
              ))}
            </ul>
            {opened.total > opened.entries.length && (
              <p className="muted">
                The first {formatCount(ENTRIES_SHOWN)} of {formatCount(opened.total)} entries.
              </p>
            )}
          </td>
        </tr>
      )}
    </>
  );
}

export function ListsView() {
  const lists = useLists((state) => state.lists);
  const refresh = useLists((state) => state.refresh);
  const fetchingAll = useLists((state) => state.fetching.has(0));
  const [subscribing, setSubscribing] = useState(false);
  const now = useNow(30_000);
  const subscriptions = lists.filter((list) => list.subscription !== null).length;
  return (
    <section className="view lists-view" aria-label="Lists">
      <div className="toolbar">
        <button className="button primary" onClick={() => setSubscribing((open) => !open)}>
          Subscribe to a list…
        </button>
        <button className="button" disabled={subscriptions === 0 || fetchingAll} onClick={() => void refresh()}>
          Update all
        </button>
        <span className="muted" data-testid="list-count">
          {formatCount(lists.length)} lists, {formatCount(lists.reduce((n, list) => n + list.entryCount, 0))} entries
        </span>
      </div>
      {subscribing && <SubscribeForm onDone={() => setSubscribing(false)} />}
      {lists.length === 0 ? (
        <p className="empty muted">
          No lists yet. Import one from Rules (Import list…), subscribe to one by its URL, or run “portcullis import
          FILE”.
        </p>
      ) : (
        <table className="lists-table" aria-label="Lists">
          <thead>
            <tr>
              <th>Name</th>
              <th>Action</th>
              <th className="num">Entries</th>
              <th>Source</th>
              <th>Updated</th>
              <th>Next update</th>
              <th>Problems</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {lists.map((list) => (
              <ListRow key={list.id} list={list} now={now} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
