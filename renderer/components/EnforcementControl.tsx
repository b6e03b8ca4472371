// Enforcing or paused, with timed pauses (the tray offers the same). Pausing needs an
// administrator; resuming is free.
import { useState } from 'react';
import { useHelper } from '../stores/helper-store';
import { formatClock } from '../model/format';

export function EnforcementControl() {
  const status = useHelper((state) => state.status);
  const connected = useHelper((state) => state.helper.state === 'connected');
  const setEnforcement = useHelper((state) => state.setEnforcement);
  const [menuOpen, setMenuOpen] = useState(false);
  if (!connected || !status) return null;
  if (!status.enforcing) {
    return (
      <div className="enforcement">
        <span className="pill pill-paused">
          {status.pausedUntil ? `Paused until ${formatClock(status.pausedUntil)}` : 'Paused'}
        </span>
        <button className="button primary" onClick={() => void setEnforcement(true)}>
          Resume
        </button>
      </div>
    );
  }
  return (
    <div className="enforcement">
      <span className="pill pill-on">Enforcing</span>
      <div className="menu-anchor">
        <button className="button" aria-haspopup="menu" aria-expanded={menuOpen} onClick={() => setMenuOpen(!menuOpen)}>
          Pause ▾
        </button>
        {menuOpen && (
          <div className="menu" role="menu">
            <p className="menu-note" role="note">
              Pausing lets everything through: it needs an administrator.
            </p>
            {[5, 15, 60].map((minutes) => (
              <button
                key={minutes}
                role="menuitem"
                onClick={() => {
                  setMenuOpen(false);
                  void setEnforcement(false, minutes);
                }}
              >
                Pause for {minutes} minutes
              </button>
            ))}
            <button
              role="menuitem"
              onClick={() => {
                setMenuOpen(false);
                void setEnforcement(false);
              }}
            >
              Pause until resumed
            </button>
          </div>
        )}
      </div>
    </div>
  );
}
