// Field rules of the runbook schema: KMS key references, RDS identifiers, and the JSON Schema export.
import { runbookJsonSchema } from '../../src/runbook/json-schema.js';
import { ENGINES, parseKmsKeyRef, rdsIdentifier } from '../../src/runbook/schema.js';

const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const MRK = 'mrk-1234abcd12ab34cd56ef1234567890ab';

describe('parseKmsKeyRef', () => {
  it.each([
    [KEY_ID, { kind: 'id' }],
    [MRK, { kind: 'id' }],
    ['alias/orders-2026', { kind: 'alias' }],
    ['alias/team/orders_2026', { kind: 'alias' }],
    ['alias/aws/rds', { kind: 'alias' }],
    [`arn:aws:kms:us-east-1:123456789012:key/${KEY_ID}`, { kind: 'arn', region: 'us-east-1', account: '123456789012' }],
    [`arn:aws:kms:eu-west-1:123456789012:key/${MRK}`, { kind: 'arn', region: 'eu-west-1', account: '123456789012' }],
    ['arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/orders', { kind: 'alias-arn', region: 'us-gov-west-1', account: '123456789012' }],
    ['arn:aws-cn:kms:cn-north-1:123456789012:alias/orders', { kind: 'alias-arn', region: 'cn-north-1', account: '123456789012' }],
  ])('accepts %s', (value, expected) => {
    expect(parseKmsKeyRef(value)).toEqual(expected);
  });

  it.each([
    ['', 'empty'],
    ['orders-2026', 'a bare name without alias/'],
    ['alias/', 'an empty alias name'],
    ['alias/has space', 'a space in the alias'],
    ['alias/aws/ebs', 'another AWS managed key'],
    ['1234ABCD-12AB-34CD-56EF-1234567890AB', 'an upper-case key id'],
    ['1234abcd-12ab-34cd-56ef-1234567890a', 'a key id one digit short'],
    ['mrk-1234', 'a short multi-Region id'],
    ['arn:aws:kms:us-east-1:123456789012:key/not-a-key-id', 'an ARN with a bad key id'],
    [`arn:aws:kms:us-east-1:12345678901:key/${KEY_ID}`, 'an 11-digit account'],
    [`arn:aws:rds:us-east-1:123456789012:key/${KEY_ID}`, 'an ARN of another service'],
    [`arn:aws:kms:us-east-1:123456789012:alias/aws/ebs`, 'an alias ARN of an AWS managed key'],
    ['arn:aws:kms:us-east-1:123456789012:alias/bad name', 'an alias ARN with a space'],
    [`arn:aws:kms:us-east-1:123456789012:keys/${KEY_ID}`, 'a wrong resource type'],
  ])('rejects %j (%s)', (value) => {
    expect(parseKmsKeyRef(value)).toBeUndefined();
  });
});

describe('RDS identifier rule', () => {
  const ok = (v: string) => rdsIdentifier.safeParse(v).success;
  const messages = (v: string) => rdsIdentifier.safeParse(v).error?.issues.map((i) => i.message) ?? [];

  it('accepts 1 and 63 characters, rejects 64', () => {
    expect(ok('a')).toBe(true);
    expect(ok('a'.repeat(63))).toBe(true);
    expect(ok(`a${'-b'.repeat(31)}`)).toBe(true);
    expect(messages('a'.repeat(64))).toEqual(['must be at most 63 characters (RDS identifier rule)']);
  });

  it('rejects empty, digit first, trailing hyphen, double hyphen, other characters', () => {
    expect(messages('')).toContain('must not be empty');
    expect(messages('1orders')).toEqual(['must start with a letter (RDS identifier rule)']);
    expect(messages('-orders')).toEqual(['must start with a letter (RDS identifier rule)']);
    expect(messages('orders-')).toEqual(['must not end with a hyphen (RDS identifier rule)']);
    expect(messages('orders--db')).toEqual(['must not contain two consecutive hyphens (RDS identifier rule)']);
    expect(messages('orders_db')).toEqual(['may contain only letters, digits and hyphens (RDS identifier rule)']);
    expect(messages('orders.db')).toEqual(['may contain only letters, digits and hyphens (RDS identifier rule)']);
  });

  it('accepts digits after the first letter and upper case (RDS stores it lower-cased)', () => {
    expect(ok('db1-2-3')).toBe(true);
    expect(ok('Orders-DB')).toBe(true);
  });
});

describe('runbookJsonSchema', () => {
  type Json = { [k: string]: unknown };
  const schema = runbookJsonSchema() as Json;

  /** Every named property anywhere in the schema, with its path. */
  function properties(node: unknown, path: string, out: [string, Json][] = []): [string, Json][] {
    if (Array.isArray(node)) node.forEach((n, i) => properties(n, `${path}[${i}]`, out));
    else if (node && typeof node === 'object') {
      const obj = node as Json;
      if (obj.properties && typeof obj.properties === 'object') {
        for (const [k, v] of Object.entries(obj.properties as Json)) out.push([`${path}.${k}`, v as Json]);
      }
      for (const [k, v] of Object.entries(obj)) properties(v, `${path}/${k}`, out);
    }
    return out;
  }

  it('is a draft 2020-12 object schema that lists the engines', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.type).toBe('object');
    expect(schema.required).toEqual(expect.arrayContaining(['version', 'name', 'region', 'source', 'target']));
    // dms is required only where DMS is used (strategy dms-cdc, also by default).
    expect(schema.allOf).toEqual([{ if: expect.anything() as unknown, then: { required: ['dms'] } }]);
    expect(JSON.stringify(schema)).toContain(JSON.stringify([...ENGINES]));
  });

  it('gives every field a description', () => {
    const props = properties(schema, '');
    expect(props.length).toBeGreaterThan(60);
    const undescribed = props.filter(([, v]) => typeof v.description !== 'string' || v.description.length === 0).map(([p]) => p);
    expect(undescribed).toEqual([]);
  });

  it('describes what authors write: keys with defaults are not required', () => {
    const cutover = (schema.properties as Json).cutover as Json;
    expect(cutover.required ?? []).toEqual([]);
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
  });
});
