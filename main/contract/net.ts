// Addresses, prefixes and domain names as people type them, parsed strictly (no inet_aton
// leniency: "01.2.3.4" or "1.2.3" are mistakes, not shorthands) into network-order bytes.
import { fail, ok, type Result } from './schema.js';

export interface IpAddress {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
}

export interface IpPrefix extends IpAddress {
  prefixLen: number;
}

const IPV4_OCTET = /^(0|[1-9][0-9]{0,2})$/;

export function parseIpv4(text: string, where = 'address'): Result<IpAddress> {
  const parts = text.split('.');
  if (parts.length !== 4)
    return fail(where, `"${text}" is not an IPv4 address: it needs four numbers separated by dots`);
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!IPV4_OCTET.test(part)) {
      const why = /^0[0-9]+$/.test(part)
        ? 'has a leading zero (ambiguous: octal or decimal?)'
        : 'is not a decimal number';
      return fail(where, `"${text}" is not an IPv4 address: part ${i + 1} "${part}" ${why}`);
    }
    const value = Number(part);
    if (value > 255) return fail(where, `"${text}" is not an IPv4 address: part ${i + 1} is ${value}, more than 255`);
    bytes[i] = value;
  }
  return ok({ family: 4, bytes });
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

export function parseIpv6(text: string, where = 'address'): Result<IpAddress> {
  const bad = (why: string) => fail(where, `"${text}" is not an IPv6 address: ${why}`);
  if (text.includes('%')) return bad('zone indexes (%eth0) are not accepted in rules');
  const halves = text.split('::');
  if (halves.length > 2) return bad('"::" may appear only once');
  const groupsOf = (half: string): string[] => (half === '' ? [] : half.split(':'));
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  const words: number[] = [];
  const pushGroups = (groups: string[], isLast: boolean): Result<null> => {
    for (let i = 0; i < groups.length; i++) {
      const group = groups[i]!;
      if (isLast && i === groups.length - 1 && group.includes('.')) {
        const v4 = parseIpv4(group, where);
        if (!v4.ok) return bad(`its embedded IPv4 part "${group}" is invalid`);
        const b = v4.value.bytes;
        words.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
        continue;
      }
      if (!HEX_GROUP.test(group))
        return bad(group === '' ? 'it has an empty group' : `"${group}" is not a group of 1-4 hex digits`);
      words.push(parseInt(group, 16));
    }
    return ok(null);
  };
  const headResult = pushGroups(head, halves.length === 1);
  if (!headResult.ok) return headResult;
  const headWords = words.length;
  const tailResult = pushGroups(tail, true);
  if (!tailResult.ok) return tailResult;
  const tailWords = words.length - headWords;
  if (halves.length === 1 && words.length !== 8)
    return bad(`it has ${words.length} groups, an address needs 8 (or "::")`);
  if (halves.length === 2 && words.length > 7) return bad('"::" must stand for at least one zero group');
  const full = [
    ...words.slice(0, headWords),
    ...new Array(8 - words.length).fill(0),
    ...words.slice(headWords, headWords + tailWords),
  ];
  const bytes = new Uint8Array(16);
  full.forEach((word, i) => {
    bytes[i * 2] = word >> 8;
    bytes[i * 2 + 1] = word & 0xff;
  });
  return ok({ family: 6, bytes });
}

export function parseIp(text: string, where = 'address'): Result<IpAddress> {
  const trimmed = text.trim();
  if (trimmed === '') return fail(where, 'is empty: give an IPv4 or IPv6 address');
  return trimmed.includes(':') ? parseIpv6(trimmed, where) : parseIpv4(trimmed, where);
}

/** "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). Host bits must be zero. */
export function parsePrefix(text: string, where = 'address'): Result<IpPrefix> {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const address = parseIp(addressText, where);
  if (!address.ok) return address;
  const maxLen = address.value.family === 4 ? 32 : 128;
  if (slash === -1) return ok({ ...address.value, prefixLen: maxLen });
  const lenText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText))
    return fail(where, `"${text}": the prefix length "${lenText}" must be a whole number 0-${maxLen}`);
  const prefixLen = Number(lenText);
  if (prefixLen > maxLen)
    return fail(
      where,
      `"${text}": the prefix length ${prefixLen} is more than ${maxLen} for an IPv${address.value.family} address`,
    );
  const masked = maskBytes(address.value.bytes, prefixLen);
  if (!masked.every((byte, i) => byte === address.value.bytes[i])) {
    const network = formatIp({ family: address.value.family, bytes: masked });
    return fail(where, `"${text}" has host bits set after /${prefixLen}; did you mean ${network}/${prefixLen}?`);
  }
  return ok({ ...address.value, prefixLen });
}

export function maskBytes(bytes: Uint8Array, prefixLen: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, prefixLen - i * 8));
    out[i] = bytes[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it stands for; others unchanged. */
export function unmapIpv4(address: IpPrefix): IpPrefix {
  const b = address.bytes;
  if (address.family !== 6 || address.prefixLen < 96) return address;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return address;
  if (b[10] !== 0xff || b[11] !== 0xff) return address;
  return { family: 4, bytes: b.slice(12), prefixLen: address.prefixLen - 96 };
}

/**
 * Canonical text: dotted quad, or RFC 5952 IPv6 (lowercase, no leading zeros, the first longest run
 * of two or more zero groups as "::"). Also formats every address of DNS answers and kernel events,
 * hence plain loops.
 */
export function formatIp(address: IpAddress): string {
  const b = address.bytes;
  if (address.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((b[i * 2]! << 8) | b[i * 2 + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += '::';
      i += bestLen - 1;
      continue;
    }
    if (i > 0 && i !== bestStart + bestLen) text += ':';
    text += words[i]!.toString(16);
  }
  return text;
}

export function formatPrefix(prefix: IpPrefix): string {
  const full = prefix.family === 4 ? 32 : 128;
  return prefix.prefixLen === full ? formatIp(prefix) : `${formatIp(prefix)}/${prefix.prefixLen}`;
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** A DNS name for a rule: lowercase, labels of letters/digits/hyphens, at least two labels. */
export function parseDomain(text: string, where = 'domain'): Result<string> {
  const name = text.trim().toLowerCase().replace(/\.$/, '');
  if (name.length === 0) return fail(where, 'is empty: give a domain such as example.com');
  if (name.length > 253)
    return fail(where, `"${text.slice(0, 40)}…" is longer than 253 characters, the limit for a domain`);
  const labels = name.split('.');
  if (labels.length < 2)
    return fail(where, `"${text}" is not a domain: it needs at least two labels, like example.com`);
  for (const label of labels) {
    if (!LABEL.test(label)) {
      return fail(
        where,
        `"${text}" is not a domain: the label "${label}" must be 1-63 letters, digits or hyphens, not starting or ending with a hyphen`,
      );
    }
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!))
    return fail(where, `"${text}" looks like a malformed IPv4 address, not a domain`);
  return ok(name);
}
