import { useEffect } from 'react';
import { useHelper } from '../stores/helper-store';
import { useRules } from '../stores/rules-store';
import { useConnections } from '../stores/connections-store';
import { useUi } from '../stores/ui-store';
import { ConnectionsView } from './ConnectionsView';
import { RulesView } from './RulesView';
import { PromptQueue } from './PromptQueue';
import { usePrompts } from '../stores/prompts-store';
import { ListsView } from './ListsView';
import { useLists } from '../stores/lists-store';
import { StatusBar } from './StatusBar';
import { EnforcementControl } from './EnforcementControl';
import { HelperBanner } from './HelperBanner';
import { Wizard } from './Wizard';
import { Notices } from './Notices';
import { formatCount } from '../model/format';

export function App() {
  const connected = useHelper((state) => state.helper.state === 'connected');
  const wizard = useHelper((state) => state.wizard);
  const tab = useUi((state) => state.tab);
  const setTab = useUi((state) => state.setTab);
  const ruleCount = useRules((state) => state.rules.length);
  const promptCount = usePrompts((state) => state.prompts.length);
  const listCount = useLists((state) => state.lists.length);

  useEffect(() => {
    let stop: (() => void) | null = null;
    let cancelled = false;
    void useHelper
      .getState()
      .init()
      .then((unsubscribe) => {
        if (cancelled) unsubscribe();
        else stop = unsubscribe;
      });
    return () => {
      cancelled = true;
      stop?.();
    };
  }, []);

  // Data flows only while the helper is there; on reconnect everything reloads.
  useEffect(() => {
    if (!connected) return;
    const stopRules = useRules.getState().follow();
    const stopLists = useLists.getState().follow();
    const stopConnections = useConnections.getState().start();
    const stopPrompts = usePrompts.getState().follow();
    return () => {
      stopRules();
      stopLists();
      stopConnections();
      stopPrompts();
    };
  }, [connected]);

  return (
    <div className="app">
      <header className="titlebar">
        <div className="brand">
          <span className="logo" aria-hidden="true">
            ▦
          </span>
          Portcullis
        </div>
        <nav className="tabs" role="tablist" aria-label="Views">
          <button role="tab" aria-selected={tab === 'connections'} onClick={() => setTab('connections')}>
            Connections
          </button>
          <button role="tab" aria-selected={tab === 'rules'} onClick={() => setTab('rules')}>
            Rules <span className="count">{formatCount(ruleCount)}</span>
          </button>
          <button role="tab" aria-selected={tab === 'lists'} onClick={() => setTab('lists')}>
            Lists <span className="count">{formatCount(listCount)}</span>
          </button>
          <button role="tab" aria-selected={tab === 'prompts'} onClick={() => setTab('prompts')}>
            Questions{' '}
            <span className={promptCount > 0 ? 'count count-alert' : 'count'} data-testid="prompt-badge">
              {formatCount(promptCount)}
            </span>
          </button>
        </nav>
        <span className="grow" />
        <EnforcementControl />
      </header>
      {wizard?.completed && <HelperBanner />}
      <main className="content">
        {tab === 'connections' ? (
          <ConnectionsView />
        ) : tab === 'rules' ? (
          <RulesView />
        ) : tab === 'lists' ? (
          <ListsView />
        ) : (
          <PromptQueue />
        )}
      </main>
      <StatusBar />
      <Notices />
      {wizard && !wizard.completed && <Wizard />}
    </div>
  );
}
