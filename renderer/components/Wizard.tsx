// First run: check this computer, start the helper through polkit, choose monitor or allow-list mode,
// offer enforcement from boot. Completion is remembered by Electron main (or the shell).
import { useEffect, useState } from 'react';
import { useHelper } from '../stores/helper-store';
import { HelperMessage } from './HelperBanner';
import { KernelFeatureList } from './KernelFeatures';

const STEPS = ['Check this computer', 'Start the helper', 'Choose a mode'] as const;

export function Wizard() {
  const [step, setStep] = useState(0);
  return (
    <div className="wizard-backdrop">
      <div className="wizard" role="dialog" aria-label="Set up Portcullis">
        <header>
          <h1>Welcome to Portcullis</h1>
          <p className="muted">See which applications talk to the network, and decide which may.</p>
          <ol className="steps">
            {STEPS.map((label, index) => (
              <li
                key={label}
                className={index === step ? 'current' : index < step ? 'done' : undefined}
                aria-current={index === step ? 'step' : undefined}
              >
                <span className="step-number">{index < step ? '✓' : index + 1}</span>
                {label}
              </li>
            ))}
          </ol>
        </header>
        {step === 0 && <ChecksStep onNext={() => setStep(1)} />}
        {step === 1 && <HelperStep onBack={() => setStep(0)} onNext={() => setStep(2)} />}
        {step === 2 && <ModeStep onBack={() => setStep(1)} />}
      </div>
    </div>
  );
}

function ChecksStep({ onNext }: { onNext: () => void }) {
  const checks = useHelper((state) => state.checks);
  const checking = useHelper((state) => state.checking);
  const runChecks = useHelper((state) => state.runChecks);
  useEffect(() => {
    void runChecks();
  }, [runChecks]);
  // The helper and install checks are not blockers here: the next steps deal with them.
  const blocking = (checks ?? []).filter((check) => !check.ok && check.id !== 'helper' && check.id !== 'installed');
  return (
    <section className="wizard-body">
      <ul className="checks" aria-label="Checks">
        {checks === null && <li className="muted">Checking…</li>}
        {(checks ?? []).map((check) => (
          <li key={check.id} className={check.ok ? 'check-ok' : 'check-bad'} data-check={check.id}>
            <span className="check-mark" aria-label={check.ok ? 'passed' : 'failed'}>
              {check.ok ? '✓' : '✕'}
            </span>
            <div>
              <strong>{check.label}</strong>
              <div className="muted">{check.detail}</div>
              {!check.ok && check.fix && (
                <div className="fix">
                  How to fix: <code>{check.fix}</code>
                </div>
              )}
              {check.features && <KernelFeatureList features={check.features} />}
            </div>
          </li>
        ))}
      </ul>
      <footer className="wizard-actions">
        <button className="button" onClick={() => void runChecks()} disabled={checking}>
          Check again
        </button>
        <span className="grow" />
        {blocking.length > 0 && (
          <span className="warn">
            {blocking.length} problem{blocking.length === 1 ? '' : 's'}: Portcullis may not be able to enforce rules.
          </span>
        )}
        <button className="button primary" onClick={onNext} disabled={checks === null}>
          Continue
        </button>
      </footer>
    </section>
  );
}

function HelperStep({ onBack, onNext }: { onBack: () => void; onNext: () => void }) {
  const helper = useHelper((state) => state.helper);
  const startHelper = useHelper((state) => state.startHelper);
  const connected = helper.state === 'connected';
  return (
    <section className="wizard-body">
      <p>
        Portcullis decides in the kernel, through a small helper that runs as root. Starting it asks for your password
        through polkit; the rest of the app runs as you.
      </p>
      <div className="helper-box">
        {connected ? (
          <>
            <p className="ok-text">
              ✓ The helper is running (version {helper.status.version}, pid {helper.status.pid}). On Linux{' '}
              {helper.status.kernel.kernelRelease} it runs:
            </p>
            <KernelFeatureList features={helper.status.kernel.features} />
          </>
        ) : (
          <HelperMessage helper={helper} />
        )}
      </div>
      <footer className="wizard-actions">
        <button className="button" onClick={onBack}>
          Back
        </button>
        <span className="grow" />
        {!connected && (
          <button className="button" onClick={() => void startHelper()} disabled={helper.state === 'starting'}>
            {helper.state === 'starting' ? 'Starting…' : 'Start helper'}
          </button>
        )}
        <button className="button primary" onClick={onNext} disabled={!connected}>
          Continue
        </button>
      </footer>
    </section>
  );
}

function ModeStep({ onBack }: { onBack: () => void }) {
  const checks = useHelper((state) => state.checks);
  const completeWizard = useHelper((state) => state.completeWizard);
  const [mode, setMode] = useState<'monitor' | 'allow-list'>('monitor');
  const [startAtBoot, setStartAtBoot] = useState(false);
  const [saving, setSaving] = useState(false);
  const installed = checks?.find((check) => check.id === 'installed')?.ok ?? false;
  return (
    <section className="wizard-body">
      <fieldset className="modes">
        <legend>How should Portcullis decide when no rule matches?</legend>
        <label className={`mode${mode === 'monitor' ? ' chosen' : ''}`}>
          <input type="radio" name="mode" checked={mode === 'monitor'} onChange={() => setMode('monitor')} />
          <div>
            <strong>Monitor (recommended)</strong>
            <div className="muted">Allow by default. You see every connection and block what you do not want.</div>
          </div>
        </label>
        <label className={`mode${mode === 'allow-list' ? ' chosen' : ''}`}>
          <input type="radio" name="mode" checked={mode === 'allow-list'} onChange={() => setMode('allow-list')} />
          <div>
            <strong>Allow-list</strong>
            <div className="muted">
              Block by default. Only what you allow may connect; expect things to break until you have allowed them.
            </div>
          </div>
        </label>
      </fieldset>
      <label className="check">
        <input
          type="checkbox"
          checked={startAtBoot}
          disabled={!installed}
          onChange={(event) => setStartAtBoot(event.target.checked)}
        />
        Enforce from boot (starts the helper with the system)
      </label>
      {!installed && (
        <p className="muted small">
          Available once Portcullis is installed system-wide (its systemd unit is not installed here).
        </p>
      )}
      <footer className="wizard-actions">
        <button className="button" onClick={onBack}>
          Back
        </button>
        <span className="grow" />
        <button
          className="button primary"
          disabled={saving}
          onClick={async () => {
            setSaving(true);
            await completeWizard(mode, startAtBoot);
            setSaving(false);
          }}
        >
          Finish
        </button>
      </footer>
    </section>
  );
}
