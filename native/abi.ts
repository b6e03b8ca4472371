// The kernel ABI (bpf/portcullis.h) as TypeScript: every PCL_* value, and each struct's size and
// field offsets, generated from the header when the BPF objects are built (bpf/gen-abi.ts), so
// nothing here restates it. Modules that read these per entry or per event bind what they use to
// module-local constants (an imported name is a property load, or a getter under tsx).
export * from '../build/bpf/portcullis-abi.js';
