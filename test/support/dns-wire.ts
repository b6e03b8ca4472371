// DNS messages written byte by byte for tests: names label by label or as a pointer to an offset,
// records of any type and class, and whole messages with any header flags.
export type NamePart = string | { pointer: number };
export function encodeName(name: NamePart): number[] {
  if (typeof name !== 'string') return [0xc0 | (name.pointer >> 8), name.pointer & 0xff];
  const out: number[] = [];
  for (const label of name.split('.').filter(Boolean)) out.push(label.length, ...Buffer.from(label, 'ascii'));
  out.push(0);
  return out;
}
export const u16 = (n: number) => [n >> 8, n & 0xff];
export const u32 = (n: number) => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
export function record(name: NamePart, type: number, ttl: number, data: number[]): number[] {
  return [...encodeName(name), ...u16(type), ...u16(1), ...u32(ttl), ...u16(data.length), ...data];
}
export function message(options: {
  id?: number;
  flags?: number;
  questions: NamePart[];
  answers: number[][];
  /** The questions' record type (default 1, A). */
  type?: number;
}): Uint8Array {
  const header = [
    ...u16(options.id ?? 0x1234),
    ...u16(options.flags ?? 0x8180),
    ...u16(options.questions.length),
    ...u16(options.answers.length),
    0,
    0,
    0,
    0,
  ];
  const questions = options.questions.flatMap((q) => [...encodeName(q), ...u16(options.type ?? 1), ...u16(1)]);
  return Uint8Array.from([...header, ...questions, ...options.answers.flat()]);
}
