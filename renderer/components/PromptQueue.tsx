// Ask mode's queue: every question waiting (one per app, listing the hosts it wants), answered for
// all its hosts or one of them, once or remembered as a rule; and which mode is on.
import { useState } from 'react';
import { ANSWER_SCOPES, modeOf, type AnswerScope, type Mode, type Prompt } from '../../main/contract/prompts';
import { useHelper } from '../stores/helper-store';
import { LIFETIMES, usePrompts, type Choice, type Lifetime } from '../stores/prompts-store';
import { useNow } from './use-now';

const LIFETIME_LABEL: Record<Lifetime, string> = {
  once: 'Only this time',
  'until-quit': 'Until the app quits',
  '15m': 'For 15 minutes',
  '1h': 'For 1 hour',
  always: 'Always',
};

const SCOPE_LABEL: Record<AnswerScope, string> = {
  host: 'This host',
  domain: 'Its domain',
  port: 'This port, any host',
  any: 'Any destination',
};

const MODE_LABEL: Record<Mode, string> = {
  ask: 'Ask',
  monitor: 'Allow (monitor)',
  allowlist: 'Block (allow-list)',
};

export function PromptQueue() {
  const prompts = usePrompts((state) => state.prompts);
  const setMode = usePrompts((state) => state.setMode);
  const status = useHelper((state) => state.status);
  const mode = status ? modeOf(status.defaultAction) : null;
  const hold = status?.kernel.features.find((feature) => feature.id === 'ask-hold');
  const holdUnavailable = hold && !hold.available ? hold.why : null;
  return (
    <section className="view prompts-view" aria-label="Questions">
      <div className="toolbar">
        <label className="mode-choice">
          When no rule decides{' '}
          <select
            aria-label="When no rule decides"
            value={mode ?? ''}
            disabled={mode === null}
            onChange={(event) => void setMode(event.target.value as Mode)}
          >
            {(['ask', 'monitor', 'allowlist'] as const).map((choice) => (
              <option key={choice} value={choice} disabled={choice === 'ask' && holdUnavailable !== null}>
                {MODE_LABEL[choice]}
              </option>
            ))}
          </select>
        </label>
        {holdUnavailable && <span className="muted small">{holdUnavailable}</span>}
      </div>
      {prompts.length === 0 ? (
        <div className="empty">
          {mode === 'ask'
            ? 'No app is waiting. When one connects somewhere no rule decides, it waits here for your answer.'
            : 'In ask mode, apps that connect somewhere no rule decides wait here for your answer.'}
        </div>
      ) : (
        <div className="prompt-list">
          {prompts.map((prompt) => (
            <PromptCard key={prompt.id} prompt={prompt} />
          ))}
        </div>
      )}
    </section>
  );
}

function PromptCard({ prompt }: { prompt: Prompt }) {
  const answer = usePrompts((state) => state.answer);
  const busy = usePrompts((state) => state.answering.has(prompt.id));
  const now = useNow(1000);
  const [lifetime, setLifetime] = useState<Lifetime>('once');
  const [scope, setScope] = useState<AnswerScope>('host');
  const choose = (action: Choice['action'], host: string | null) =>
    void answer(prompt.id, { action, lifetime, scope: lifetime === 'once' ? 'host' : scope, host });
  const left = Math.max(0, Math.round((prompt.deadline - now) / 1000));
  const held = prompt.hosts.reduce((sum, host) => sum + host.held, 0);
  return (
    <article className="prompt-card" data-testid="prompt-card" aria-label={`${prompt.appName} is waiting`}>
      <header className="prompt-head">
        <div>
          <div className="app-name">{prompt.appName}</div>
          {prompt.exe && <div className="app-path muted small">{prompt.exe}</div>}
        </div>
        <span className="grow" />
        <span className="muted small">
          {held} connection{held === 1 ? '' : 's'} waiting · answered with the timeout action in {left}s
        </span>
      </header>
      <ul className="prompt-hosts">
        {prompt.hosts.map((host) => {
          const label = host.remoteName ?? host.remoteAddr;
          return (
            <li key={host.remoteAddr} className="prompt-host" data-testid="prompt-host">
              <span className="host-name">{label}</span>
              {host.remoteName && <span className="host-addr muted">{host.remoteAddr}</span>}
              <span className="mono small">
                {host.protocols.join('/')} {host.ports.join(', ')}
              </span>
              <span className="grow" />
              {prompt.hosts.length > 1 && (
                <>
                  <button
                    className="button"
                    disabled={busy}
                    aria-label={`Allow ${label}`}
                    onClick={() => choose('allow', host.remoteAddr)}
                  >
                    Allow
                  </button>
                  <button
                    className="button"
                    disabled={busy}
                    aria-label={`Deny ${label}`}
                    onClick={() => choose('deny', host.remoteAddr)}
                  >
                    Deny
                  </button>
                </>
              )}
            </li>
          );
        })}
      </ul>
      <footer className="prompt-actions">
        <select
          aria-label="How long"
          value={lifetime}
          onChange={(event) => setLifetime(event.target.value as Lifetime)}
        >
          {LIFETIMES.map((choice) => (
            <option key={choice} value={choice}>
              {LIFETIME_LABEL[choice]}
            </option>
          ))}
        </select>
        <select
          aria-label="For what"
          value={scope}
          disabled={lifetime === 'once'}
          onChange={(event) => setScope(event.target.value as AnswerScope)}
        >
          {ANSWER_SCOPES.map((choice) => (
            <option
              key={choice}
              value={choice}
              disabled={choice === 'domain' && prompt.hosts.every((host) => !host.remoteName)}
            >
              {SCOPE_LABEL[choice]}
            </option>
          ))}
        </select>
        <span className="grow" />
        <button className="button primary" disabled={busy} onClick={() => choose('allow', null)}>
          Allow{prompt.hosts.length > 1 ? ' all' : ''}
        </button>
        <button className="button danger" disabled={busy} onClick={() => choose('deny', null)}>
          Deny{prompt.hosts.length > 1 ? ' all' : ''}
        </button>
      </footer>
    </article>
  );
}
