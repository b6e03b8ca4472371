// Failures of a step that reaches the kernel as PortcullisErrors of kind 'kernel', so clients can
// tell "the kernel refused" from a helper bug; a NativeError's detail (the verifier's or libbpf's
// words, else its errno name) goes with it.
import { PortcullisError } from '../contract/index.js';
import { NativeError } from '../../native/errors.js';

export async function inKernel<T>(what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof PortcullisError) throw error;
    const detail = error instanceof NativeError ? error.detail || error.code : undefined;
    throw new PortcullisError('kernel', `${what}: ${(error as Error).message}`, detail ? { detail } : {});
  }
}
