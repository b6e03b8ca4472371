// The helper's state, its status, the environment checks and the first-run wizard.
import { create } from 'zustand';
import type { Check, HelperState, WizardState } from '../../main/contract/ipc';
import type { Status } from '../../main/contract/domain';
import { bridge } from '../bridge';
import { valueAsAdministrator, valueOr } from './notices-store';

export type HelperView = HelperState | { state: 'unknown' };

interface HelperStore {
  helper: HelperView;
  status: Status | null;
  wizard: WizardState | null;
  checks: Check[] | null;
  checking: boolean;
  /** Subscribes to helper state and status and loads the wizard state. Returns the unsubscribe. */
  init(): Promise<() => void>;
  startHelper(): Promise<HelperState | null>;
  runChecks(): Promise<void>;
  completeWizard(mode: 'monitor' | 'allow-list', startAtBoot: boolean): Promise<boolean>;
  setEnforcement(enabled: boolean, pauseMinutes?: number): Promise<void>;
}

function applyHelperState(state: HelperState): Partial<HelperStore> {
  return state.state === 'connected' ? { helper: state, status: state.status } : { helper: state };
}

export const useHelper = create<HelperStore>((set) => ({
  helper: { state: 'unknown' },
  status: null,
  wizard: null,
  checks: null,
  checking: false,

  async init() {
    const api = bridge();
    const unsubscribe = [
      api.listenHelperState((state) => set(applyHelperState(state))),
      api.listenStatus((status) => set({ status })),
    ];
    const [helper, wizard] = await Promise.all([api.getHelperState({}), api.getWizardState({})]);
    const helperState = valueOr(helper, 'Asking for the helper state');
    if (helperState) set(applyHelperState(helperState));
    const wizardState = valueOr(wizard, 'Loading the first-run state');
    if (wizardState) set({ wizard: wizardState });
    return () => unsubscribe.forEach((stop) => stop());
  },

  async startHelper() {
    set({ helper: { state: 'starting' } });
    const result = await bridge().startHelper({});
    if (!result.ok) {
      const failed: HelperState = { state: 'failed', message: result.error.message };
      set({ helper: failed });
      return failed;
    }
    set(applyHelperState(result.value));
    return result.value;
  },

  async runChecks() {
    set({ checking: true });
    const checks = valueOr(await bridge().runChecks({}), 'Checking this computer');
    set({ checks: checks ?? [], checking: false });
  },

  async completeWizard(mode, startAtBoot) {
    const wizard = await valueAsAdministrator(() => bridge().completeWizard({ mode, startAtBoot }), 'Finishing setup');
    if (!wizard) return false;
    set({ wizard });
    return true;
  },

  async setEnforcement(enabled, pauseMinutes) {
    const request = pauseMinutes === undefined ? { enabled } : { enabled, pauseMinutes };
    const status = await valueAsAdministrator(
      () => bridge().setEnforcement(request),
      enabled ? 'Resuming enforcement' : 'Pausing enforcement',
    );
    if (status) set({ status });
  },
}));
