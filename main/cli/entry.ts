// Process entry of the portcullis command (bin/portcullis loads the compiled form of this file).
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`portcullis: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
