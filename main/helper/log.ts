// The helper's log: one line per event on stderr (journald or the terminal adds the context).
export function log(message: string): void {
  process.stderr.write(`portcullis-helper: ${message}\n`);
}
