// A small validation library shared by every boundary (helper RPC, renderer IPC, CLI). Pure TS.
// A schema parses `unknown` into a typed value or says exactly what was wrong and where
// ("params.rule.port: must be an integer 1-65535, got 0").

export type Result<T, E = ValidationIssue> = { ok: true; value: T } | { ok: false; error: E };

export interface ValidationIssue {
  /** Dotted location of the bad value, e.g. "params.port" or "line 12". */
  where: string;
  message: string;
}

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const fail = (where: string, message: string): Result<never> => ({ ok: false, error: { where, message } });

/**
 * Parses `unknown` into a T. `In` is what a sender writes, where that differs from what parse returns
 * (a remote typed as text becomes a parsed Remote; a choice may be sent as any text and is checked).
 */
export interface Schema<T, In = T> {
  parse(input: unknown, where?: string): Result<T>;
  /** Human description used in messages ("a string", "one of tcp|udp"). */
  readonly expected: string;
  /** Never set: carries the sender's type for typed callers. */
  readonly input?: In;
}

/** What a schema's parse returns. */
export type Infer<S> = S extends Schema<infer T, unknown> ? T : never;
/** What a sender writes for a schema. */
export type InputOf<S> = S extends Schema<unknown, infer In> ? In : never;

/** An object schema's output: fields whose schema accepts undefined are optional keys. */
type OptionalKeys<Shape> = { [K in keyof Shape]: undefined extends Infer<Shape[K]> ? K : never }[keyof Shape];
type ObjectOf<Shape> = { [K in Exclude<keyof Shape, OptionalKeys<Shape>>]: Infer<Shape[K]> } & {
  [K in OptionalKeys<Shape>]?: Infer<Shape[K]>;
};
/** The same for what a sender writes. */
type OptionalInputKeys<Shape> = { [K in keyof Shape]: undefined extends InputOf<Shape[K]> ? K : never }[keyof Shape];
type ObjectInputOf<Shape> = { [K in Exclude<keyof Shape, OptionalInputKeys<Shape>>]: InputOf<Shape[K]> } & {
  [K in OptionalInputKeys<Shape>]?: InputOf<Shape[K]>;
};

export function describe(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'an array';
  if (typeof input === 'string')
    return input.length > 40 ? `a string of ${input.length} characters` : JSON.stringify(input);
  if (typeof input === 'number' || typeof input === 'boolean') return String(input);
  return typeof input === 'object' ? 'an object' : typeof input;
}

/** C0 and C1 controls (newline, escape, ...) and the Unicode line and paragraph separators. */
const UNPRINTABLE = /[\p{Cc}\u2028\u2029]/u;

function schema<T, In = T>(expected: string, parse: (input: unknown, where: string) => Result<T>): Schema<T, In> {
  return { expected, parse: (input, where = 'value') => parse(input, where) };
}

export const s = {
  /** `printable`: no control characters or line breaks (text that goes into a log line as it is). */
  string(options: { min?: number; max?: number; printable?: boolean } = {}): Schema<string> {
    const { min = 0, max = 4096, printable = false } = options;
    return schema(`a string of ${min}-${max} characters`, (input, where) => {
      if (typeof input !== 'string') return fail(where, `must be a string, got ${describe(input)}`);
      if (input.length < min || input.length > max)
        return fail(where, `must be ${min}-${max} characters long, got ${input.length}`);
      if (printable) {
        const found = UNPRINTABLE.exec(input);
        if (found) {
          const code = found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
          return fail(
            where,
            `must not contain control characters or line breaks, found U+${code} at position ${found.index + 1}`,
          );
        }
      }
      return ok(input);
    });
  },

  int(options: { min?: number; max?: number } = {}): Schema<number> {
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = options;
    return schema(`an integer ${min}-${max}`, (input, where) => {
      if (typeof input !== 'number' || !Number.isInteger(input))
        return fail(where, `must be an integer, got ${describe(input)}`);
      if (input < min || input > max) return fail(where, `must be between ${min} and ${max}, got ${input}`);
      return ok(input);
    });
  },

  boolean(): Schema<boolean> {
    return schema('true or false', (input, where) =>
      typeof input === 'boolean' ? ok(input) : fail(where, `must be true or false, got ${describe(input)}`),
    );
  },

  literal<const V extends string | number | boolean>(value: V): Schema<V> {
    return schema(JSON.stringify(value), (input, where) =>
      input === value ? ok(value) : fail(where, `must be ${JSON.stringify(value)}, got ${describe(input)}`),
    );
  },

  /** A sender may write any text (a CLI flag, a form's select): the parser says which are allowed. */
  oneOf<const V extends string>(values: readonly V[]): Schema<V, string> {
    return schema<V, string>(`one of ${values.join('|')}`, (input, where) =>
      typeof input === 'string' && (values as readonly string[]).includes(input)
        ? ok(input as V)
        : fail(where, `must be one of ${values.join(', ')}, got ${describe(input)}`),
    );
  },

  optional<T, In>(inner: Schema<T, In>): Schema<T | undefined, In | undefined> {
    return schema<T | undefined, In | undefined>(`${inner.expected} (optional)`, (input, where) =>
      input === undefined ? ok(undefined) : inner.parse(input, where),
    );
  },

  nullable<T, In>(inner: Schema<T, In>): Schema<T | null, In | null> {
    return schema<T | null, In | null>(`${inner.expected} or null`, (input, where) =>
      input === null ? ok(null) : inner.parse(input, where),
    );
  },

  array<T, In>(inner: Schema<T, In>, options: { max?: number } = {}): Schema<T[], In[]> {
    const { max = 100_000 } = options;
    return schema<T[], In[]>(`a list of ${inner.expected}`, (input, where) => {
      if (!Array.isArray(input)) return fail(where, `must be a list, got ${describe(input)}`);
      if (input.length > max) return fail(where, `must hold at most ${max} items, got ${input.length}`);
      const out: T[] = [];
      for (let i = 0; i < input.length; i++) {
        const item = inner.parse(input[i], `${where}[${i}]`);
        if (!item.ok) return item;
        out.push(item.value);
      }
      return ok(out);
    });
  },

  /** A plain object with exactly these keys (unknown keys are refused: a typo must not pass silently). */
  object<Shape extends Record<string, Schema<unknown, unknown>>>(
    shape: Shape,
  ): Schema<ObjectOf<Shape>, ObjectInputOf<Shape>> {
    type Out = ObjectOf<Shape>;
    return schema<Out, ObjectInputOf<Shape>>('an object', (input, where) => {
      if (typeof input !== 'object' || input === null || Array.isArray(input))
        return fail(where, `must be an object, got ${describe(input)}`);
      const record = input as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        if (!(key in shape))
          return fail(`${where}.${key}`, `is not a known field (known: ${Object.keys(shape).join(', ') || 'none'})`);
      }
      const out: Record<string, unknown> = {};
      for (const [key, fieldSchema] of Object.entries(shape)) {
        const field = fieldSchema.parse(record[key], `${where}.${key}`);
        if (!field.ok) return field;
        if (field.value !== undefined) out[key] = field.value;
      }
      return ok(out as Out);
    });
  },

  /** Runs a parser over a validated value (turning "10m" into 600 000 ms, say). */
  map<A, B, In>(
    inner: Schema<A, In>,
    expected: string,
    convert: (value: A, where: string) => Result<B>,
  ): Schema<B, In> {
    return schema<B, In>(expected, (input, where) => {
      const first = inner.parse(input, where);
      return first.ok ? convert(first.value, where) : first;
    });
  },

  union<A, AIn, B, BIn>(a: Schema<A, AIn>, b: Schema<B, BIn>): Schema<A | B, AIn | BIn> {
    return schema<A | B, AIn | BIn>(`${a.expected} or ${b.expected}`, (input, where) => {
      const first = a.parse(input, where);
      if (first.ok) return first;
      const second = b.parse(input, where);
      return second.ok ? second : fail(where, `must be ${a.expected} or ${b.expected}, got ${describe(input)}`);
    });
  },

  /** No params at all: undefined, null or {} (JSON-RPC lets clients omit params). */
  none(): Schema<Record<string, never>> {
    return schema('no parameters', (input, where) => {
      if (input === undefined || input === null) return ok({});
      if (typeof input === 'object' && !Array.isArray(input) && Object.keys(input).length === 0) return ok({});
      return fail(where, `takes no parameters, got ${describe(input)}`);
    });
  },
};
