import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './components/App';
import { useConnections } from './stores/connections-store';

// Marks in the page's timeline (bench/ui.ts reads them): the bundle has run.
performance.mark('portcullis:script');
// The connection list's data is asked for before React's first render, which it then overlaps.
useConnections.getState().prefetch();

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
