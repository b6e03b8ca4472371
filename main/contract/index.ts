// The contract: pure TypeScript shared by the helper, every client and the renderer.
export * from './schema.js';
export * from './net.js';
export * from './rules.js';
export * from './domain.js';
export * from './errors.js';
export * from './blocklist.js';
export * from './prompts.js';
export * from './rpc.js';
export * from './ipc.js';
export * from './authority.js';
