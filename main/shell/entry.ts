// Process entry of the browser shell (scripts/start.js runs the compiled form, or tsx runs this).
import { main } from './main.js';

main().catch((error: unknown) => {
  process.stderr.write(`portcullis-shell: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
