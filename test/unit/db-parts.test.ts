// The database adapters' pure parts: how a session's client address is read.
import { describe, expect, test } from '@jest/globals';
import { clientAddress } from '../../src/db/mysql.js';
import { normalizeAddress } from '../../src/db/types.js';
import { subscriptionConninfo } from '../../src/db/native.js';
import { passfileText } from '../../src/rehearsal/servers/passfile.js';

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

describe('a subscription\'s password: in the conninfo (AWS) or in a password file (the rehearsal\'s servers)', () => {
  const base = { host: 'db.example', port: 5432, database: 'app', user: 'rekey_admin', tls: true, applicationName: 'rekey_x_sub' };
  test('without a password file the password is in the conninfo; with one, only the file is named', () => {
    expect(subscriptionConninfo({ ...base, password: "p'w" })).toBe("host='db.example' port='5432' dbname='app' user='rekey_admin' password='p\\'w' sslmode='require' application_name='rekey_x_sub'");
    const withFile = subscriptionConninfo({ ...base, password: 'Secret-1', passfile: '/run/x/pgpass' });
    expect(withFile).toContain("passfile='/run/x/pgpass'");
    expect(withFile).not.toContain('Secret-1');
    expect(subscriptionConninfo({ ...base, passfile: '/run/x/pgpass' })).not.toContain('passfile');
  });
  test('the password file: one line per user, any host/port/database, `:` and `\\` escaped, empty passwords left out', () => {
    expect(passfileText([{ user: 'owner', password: 'a:b\\c' }, { user: 'owner', password: 'second' }, { user: 'x', password: '' }, { user: 'rekey_admin', password: 'S' }])).toBe(
      '*:*:*:owner:a\\:b\\\\c\n*:*:*:rekey_admin:S\n',
    );
    expect(passfileText([])).toBe('');
  });
});
