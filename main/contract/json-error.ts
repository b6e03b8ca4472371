// Where JSON text goes wrong, as a line and column: JSON.parse says what is wrong but (in the V8 of
// Node 20) often not where, and a person fixing a rule or policy file needs the line. A small
// scanner of JSON's grammar that stops at the first character that cannot be there.

export interface JsonErrorPlace {
  /** 1-based. */
  line: number;
  column: number;
}

/** The place of the first syntax error in `text`, or null when it is valid JSON. */
export function jsonErrorPlace(text: string): JsonErrorPlace | null {
  const at = firstBadOffset(text);
  if (at === null) return null;
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < at; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: at - lineStart + 1 };
}

class Bad {
  constructor(readonly at: number) {}
}

function firstBadOffset(text: string): number | null {
  let i = 0;
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const expect = (word: string) => {
    for (const c of word) {
      if (text[i] !== c) throw new Bad(i);
      i++;
    }
  };
  const string = () => {
    expect('"');
    while (i < text.length && text[i] !== '"') {
      const code = text.charCodeAt(i);
      if (code < 0x20) throw new Bad(i);
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) throw new Bad(i);
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? '')) throw new Bad(i);
      }
      i++;
    }
    expect('"');
  };
  const number = () => {
    const match = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!match || match[0] === '' || match[0] === '-') throw new Bad(i);
    i += match[0].length;
  };
  const value = (depth: number): void => {
    if (depth > 512) throw new Bad(i);
    space();
    const c = text[i];
    if (c === '{') {
      i++;
      space();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        space();
        string();
        space();
        expect(':');
        value(depth + 1);
        space();
        if (text[i] === ',') i++;
        else return expect('}');
      }
    }
    if (c === '[') {
      i++;
      space();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        space();
        if (text[i] === ',') i++;
        else return expect(']');
      }
    }
    if (c === '"') return string();
    if (c === 't') return expect('true');
    if (c === 'f') return expect('false');
    if (c === 'n') return expect('null');
    return number();
  };
  try {
    value(0);
    space();
    return i < text.length ? i : null;
  } catch (error) {
    if (error instanceof Bad) return Math.min(error.at, text.length);
    throw error;
  }
}
