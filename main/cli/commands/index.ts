// Every CLI command, registered in one table (order = order in help).
import type { Command } from '../command.js';
import { statusCommand } from './status.js';
import { rulesCommand } from './rules.js';
import { blockCommand, allowCommand } from './block.js';
import { unblockCommand } from './unblock.js';
import { enableCommand, disableCommand } from './enforcement.js';
import { connectionsCommand } from './connections.js';
import { appsCommand } from './apps.js';
import { appDefaultCommand } from './app-default.js';
import { settingsCommand } from './settings.js';
import { doctorCommand } from './doctor.js';
import { helperCommand } from './helper.js';
import { installCommand } from './install.js';
import { uninstallCommand } from './uninstall.js';
import { startCommand } from './start.js';
import { answerCommand, modeCommand, promptsCommand } from './prompts.js';
import { importCommand } from './import.js';
import { exportCommand } from './export.js';
import { listsCommand } from './lists.js';

export const commands: Command[] = [
  statusCommand,
  rulesCommand,
  blockCommand,
  allowCommand,
  unblockCommand,
  importCommand,
  exportCommand,
  listsCommand,
  enableCommand,
  disableCommand,
  modeCommand,
  promptsCommand,
  answerCommand,
  appsCommand,
  appDefaultCommand,
  connectionsCommand,
  settingsCommand,
  doctorCommand,
  helperCommand,
  startCommand,
  installCommand,
  uninstallCommand,
];
