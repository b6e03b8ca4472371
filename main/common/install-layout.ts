// Where an installed Portcullis lives. Fixed, root-owned system paths: the polkit action names the
// launcher by absolute path and the launcher names the helper entry, so an install anywhere else
// could not be started through polkit. That is also why install/uninstall take no prefix: there is
// nothing a prefix could be used for except writing root-owned files somewhere unexpected.

export const POLKIT_ACTION_ID = 'org.portcullis.helper';
/** Loosening the firewall: the helper checks it for the calling process (tightening needs none). */
export const MANAGE_ACTION_ID = 'org.portcullis.manage';

export const LAYOUT = {
  /** The helper bundle: compiled JS, the addon, better-sqlite3 and what it loads. */
  libDir: '/usr/lib/portcullis',
  /** Started by the launcher (and the systemd unit) with /usr/bin/node. */
  helperEntry: '/usr/lib/portcullis/portcullis-helper.js',
  /** install/uninstall from the installed copy (the deb's prerm runs this). */
  installEntry: '/usr/lib/portcullis/portcullis-install.js',
  cliEntry: '/usr/lib/portcullis/portcullis-cli.js',
  manifest: '/usr/lib/portcullis/manifest.json',
  libexecDir: '/usr/libexec/portcullis',
  launcher: '/usr/libexec/portcullis/portcullis-helper-launch',
  policy: `/usr/share/polkit-1/actions/${POLKIT_ACTION_ID}.policy`,
  managePolicy: `/usr/share/polkit-1/actions/${MANAGE_ACTION_ID}.policy`,
  unit: '/usr/lib/systemd/system/portcullis-helper.service',
  unitWantsLink: '/etc/systemd/system/multi-user.target.wants/portcullis-helper.service',
  /** The CLI for everyone: a two-line sh wrapper around cliEntry. */
  cliWrapper: '/usr/bin/portcullis',
  node: '/usr/bin/node',
  /** Holds helper.conf (main/helper/config.ts reads it); removed only by uninstall --purge. */
  configDir: '/etc/portcullis',
  /**
   * Policy files: root-owned JSON documents (the export format) the helper applies as managed rules
   * and lists, for configuration management to roll out.
   */
  policyDir: '/etc/portcullis/policy.d',
  /** The helper's socket directory when helper.conf does not move the socket. */
  runtimeDir: '/run/portcullis',
} as const;

/** Files inside a helper bundle (relative to its root) that install copies to fixed places. */
export const BUNDLE_FILES = {
  helperEntry: 'portcullis-helper.js',
  installEntry: 'portcullis-install.js',
  cliEntry: 'portcullis-cli.js',
  manifest: 'manifest.json',
  launcher: 'polkit/portcullis-helper-launch',
  policy: `polkit/${POLKIT_ACTION_ID}.policy`,
  managePolicy: `polkit/${MANAGE_ACTION_ID}.policy`,
  unit: 'polkit/portcullis-helper.service',
} as const;
