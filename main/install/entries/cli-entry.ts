// The installed CLI's process entry (/usr/bin/portcullis runs it with /usr/bin/node).
import '../../cli/entry.js';
