import { useNotices } from '../stores/notices-store';

export function Notices() {
  const notices = useNotices((state) => state.notices);
  const dismiss = useNotices((state) => state.dismiss);
  const retry = useNotices((state) => state.retry);
  if (notices.length === 0) return null;
  return (
    <div className="notices" role="status" aria-live="polite">
      {notices.map((notice) => (
        <div key={notice.id} className={`notice notice-${notice.tone}`}>
          <span>{notice.text}</span>
          {notice.again && (
            <button
              className="link"
              onClick={() => retry(notice.id)}
              title="Send it again: an administrator is asked to authenticate"
            >
              Try again
            </button>
          )}
          <button className="link" onClick={() => dismiss(notice.id)} aria-label="Dismiss">
            ✕
          </button>
        </div>
      ))}
    </div>
  );
}
