// The contract: pure TypeScript shared by the helper, every client and the renderer.
export * from './schema.js';
export * from './net.js';
export * from './rules.js';
export * from './domain.js';
export * from './errors.js';
export * from './list-formats.js';
export * from './lists.js';
export * from './subscriptions.js';
export * from './rules-document.js';
export * from './import-stream.js';
export * from './export.js';
export * from './prompts.js';
export * from './rpc.js';
export * from './ipc.js';
export * from './authority.js';
