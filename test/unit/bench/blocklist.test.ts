import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blockedAddress, blockedAddresses } from '../../../bench/lib/blocklist.js';
import { parseIp } from '../../../main/contract/net.js';

test('blocked addresses are distinct valid IPv4 addresses inside 240.0.0.0/4', () => {
  const addresses = blockedAddresses(70_000);
  assert.equal(new Set(addresses).size, addresses.length);
  for (const address of [addresses[0]!, addresses[255]!, addresses[256]!, addresses[69_999]!]) {
    const parsed = parseIp(address);
    assert.ok(parsed.ok, `${address} should be a valid address`);
    assert.equal(parsed.value.bytes[0]! >> 4, 15, `${address} should be in 240.0.0.0/4`);
  }
  assert.equal(blockedAddress(0), '240.0.0.1');
  assert.equal(blockedAddress(255), '240.0.1.0');
  assert.equal(blockedAddress(999_999), '240.15.66.64');
});

test('an index outside the reserved range is refused', () => {
  assert.throws(() => blockedAddress(-1), /0\.\.2\^28-1/);
  assert.throws(() => blockedAddress(2 ** 28), /0\.\.2\^28-1/);
  assert.throws(() => blockedAddress(1.5), /0\.\.2\^28-1/);
});
