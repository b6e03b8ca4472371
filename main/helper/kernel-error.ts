// Native addon failures (errors carrying code/op/detail) as PortcullisErrors of kind 'kernel', so
// clients can tell "the kernel refused" from a helper bug.
import { PortcullisError } from '../contract/index.js';

export async function inKernel<T>(what: string, step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof PortcullisError) throw error;
    const native = error as Error & { code?: unknown; detail?: unknown };
    const detail = typeof native.detail === 'string' && native.detail !== '' ? native.detail : typeof native.code === 'string' ? native.code : undefined;
    throw new PortcullisError('kernel', `${what}: ${native.message}`, detail ? { detail } : {});
  }
}
