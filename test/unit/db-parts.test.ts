// The database adapters' pure parts: how a session's client address is read.
import { describe, expect, test } from '@jest/globals';
import { clientAddress } from '../../src/db/mysql.js';
import { normalizeAddress } from '../../src/db/types.js';

describe('clientAddress (MySQL PROCESSLIST HOST as an address)', () => {
  test('sockets, ports, IPv6 forms and IPv4-mapped addresses', async () => {
    expect(await clientAddress('localhost')).toBe('local');
    expect(await clientAddress(null)).toBe('local');
    expect(await clientAddress('10.0.9.9:51234')).toBe('10.0.9.9');
    expect(await clientAddress('::ffff:10.0.9.9:51234')).toBe('10.0.9.9');
    expect(await clientAddress('[fd00::5]:51234')).toBe('fd00::5');
    expect(await clientAddress('fd00::5')).toBe('fd00::5');
    expect((await clientAddress('localhost:3306')).split('/')).toContain('127.0.0.1');
    expect(await clientAddress('no-such-host.invalid:1')).toBe('no-such-host.invalid');
  });
});

describe('normalizeAddress', () => {
  test('an IPv4-mapped IPv6 address is the IPv4 address; others stay', () => {
    expect(normalizeAddress('::ffff:10.0.9.9')).toBe('10.0.9.9');
    expect(normalizeAddress('::FFFF:10.0.9.9')).toBe('10.0.9.9');
    expect(normalizeAddress('fd00::5')).toBe('fd00::5');
    expect(normalizeAddress('10.0.9.9')).toBe('10.0.9.9');
  });
});
