// Secrets Manager references: GetSecretValue in the ARN's region, one call per secret, JSON field selection, errors
// that name the ARN and never the value, the value redacted from everything once fetched, and preflight reporting
// an unreadable secret as a problem before anything is created.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { secretsManagerResolver } from '../../src/aws/secrets.js';
import { composeServices, redactorFor } from '../../src/cli/compose.js';
import { executeFlow } from '../../src/engine/executor.js';
import { MemoryJournalStore } from '../../src/engine/journal.js';
import { RunMachine } from '../../src/engine/run-machine.js';
import { StepError, type Step } from '../../src/engine/types.js';
import { loadRunbook } from '../../src/runbook/load.js';
import type { SecretRef } from '../../src/runbook/schema.js';
import { preflight, runPreflight } from '../../src/steps/preflight.js';
import type { RekeyServices } from '../../src/steps/services.js';
import { RUN_ID, World, testRunbook } from './steps-world.js';

const smMock = mockClient(SecretsManagerClient);

const ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-abc-XyZ123';
const OTHER_ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:dms-user-AbCdEf';
const VALUE = 'Tr0ub4dor&3-from-sm';
const RDS_SECRET = JSON.stringify({ username: 'rekey_admin', password: VALUE });

const awsError = (name: string, message: string, status = 400) =>
  Object.assign(new Error(message), { name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status } });

function resolver(learnt: string[] = [], profile?: string) {
  return secretsManagerResolver({ ...(profile ? { profile } : {}), learn: (v) => learnt.push(v) });
}

async function failure(p: Promise<unknown>): Promise<StepError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StepError);
  return err as StepError;
}

beforeEach(() => {
  smMock.reset();
  smMock.onAnyCommand().rejects(new Error('unexpected Secrets Manager command'));
});

describe('secretsManagerResolver', () => {
  test('asks GetSecretValue for the ARN, in the ARN region, with the profile; takes password from an RDS-managed JSON secret', async () => {
    smMock.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ SecretString: RDS_SECRET });
    const learnt: string[] = [];
    expect(await resolver(learnt, 'ops').resolve({ secretArn: ARN })).toBe(VALUE);
    const calls = smMock.commandCalls(GetSecretValueCommand);
    expect(calls.map((c) => c.args[0].input)).toEqual([{ SecretId: ARN }]);
    // The runbook region is us-east-1 elsewhere in these tests: the client follows the secret, not the runbook.
    const client = calls[0]!.thisValue as SecretsManagerClient;
    expect(await client.config.region()).toBe('eu-west-1');
    expect((client.config as unknown as { profile?: string }).profile).toBe('ops');
    expect(learnt).toEqual([VALUE]);
  });

  test('selects the named key of a JSON secret', async () => {
    smMock.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ SecretString: JSON.stringify({ user: 'dms', pw: 'dms-pass-123', password: 'not-this-one' }) });
    expect(await resolver().resolve({ secretArn: ARN, key: 'pw' })).toBe('dms-pass-123');
  });

  test.each([
    ['a plain string', 'plain-Pa55word'],
    ['digits, which also parse as JSON', '123456789'],
    ['surrounding spaces kept', '  spaced pw  '],
  ])('uses %s as is', async (_what, secret) => {
    smMock.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ SecretString: secret });
    expect(await resolver().resolve({ secretArn: ARN })).toBe(secret);
  });

  test('one GetSecretValue per ARN for the run, concurrent callers and different keys included', async () => {
    smMock.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ SecretString: RDS_SECRET });
    smMock.on(GetSecretValueCommand, { SecretId: OTHER_ARN }).resolves({ SecretString: 'other-secret' });
    const r = resolver();
    const [a, b] = await Promise.all([r.resolve({ secretArn: ARN }), r.resolve({ secretArn: ARN })]);
    expect([a, b]).toEqual([VALUE, VALUE]);
    expect(await r.resolve({ secretArn: ARN, key: 'username' })).toBe('rekey_admin');
    expect(await r.resolve({ secretArn: OTHER_ARN })).toBe('other-secret');
    expect(await r.resolve({ secretArn: OTHER_ARN })).toBe('other-secret');
    expect(smMock.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId)).toEqual([ARN, OTHER_ARN]);
  });

  test('a failed fetch is not cached: a retried step asks again', async () => {
    smMock.on(GetSecretValueCommand).rejectsOnce(awsError('InternalServiceError', 'try later', 500)).resolves({ SecretString: 'second-try' });
    const r = resolver();
    const err = await failure(r.resolve({ secretArn: ARN }));
    expect(err.kind).toBe('retryable');
    expect(await r.resolve({ secretArn: ARN })).toBe('second-try');
    expect(smMock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  test('forget drops the fetched value: the next resolve reads the rotated secret, and the redactor learns it', async () => {
    smMock.on(GetSecretValueCommand).resolvesOnce({ SecretString: 'old-Passw0rd' }).resolves({ SecretString: 'new-Passw0rd' });
    const learnt: string[] = [];
    const r = resolver(learnt);
    expect(await r.resolve({ secretArn: ARN })).toBe('old-Passw0rd');
    r.forget(ARN);
    expect(await r.resolve({ secretArn: ARN })).toBe('new-Passw0rd');
    expect(smMock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    expect(learnt).toEqual(['old-Passw0rd', 'new-Passw0rd']);
  });

  test('AccessDeniedException names the ARN and both permissions', async () => {
    smMock.on(GetSecretValueCommand).rejects(awsError('AccessDeniedException', 'User: arn:aws:sts::111122223333:assumed-role/dba/x is not authorized to perform: secretsmanager:GetSecretValue'));
    const err = await failure(resolver().resolve({ secretArn: ARN }));
    expect(err.message).toMatch(/^access denied reading secret arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-abc-XyZ123: /);
    expect(err.message).toContain('needs secretsmanager:GetSecretValue on it, and kms:Decrypt on its KMS key when the secret is encrypted with a customer managed key');
    expect(err.message).toContain('(AccessDeniedException: User: arn:aws:sts::111122223333:assumed-role/dba/x is not authorized');
    expect(err.kind).toBe('rejected');
    expect(err.cause).toBeInstanceOf(Error);
  });

  test('ResourceNotFoundException names the ARN and the region it was looked up in', async () => {
    smMock.on(GetSecretValueCommand).rejects(awsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret."));
    const err = await failure(resolver().resolve({ secretArn: ARN }));
    expect(err.message).toBe(`secret ${ARN} not found in eu-west-1: check the ARN, its region and account (ResourceNotFoundException: Secrets Manager can't find the specified secret.)`);
    expect(err.kind).toBe('fatal');
  });

  test('DecryptionFailure points at the secret key and kms:Decrypt', async () => {
    smMock.on(GetSecretValueCommand).rejects(awsError('DecryptionFailure', 'Access to KMS is not allowed'));
    const err = await failure(resolver().resolve({ secretArn: ARN }));
    expect(err.message).toBe(`Secrets Manager cannot decrypt secret ${ARN}: its KMS key must be enabled and the caller needs kms:Decrypt on it (DecryptionFailure: Access to KMS is not allowed)`);
  });

  test('a missing JSON key lists the keys present, never the values', async () => {
    smMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ username: 'rekey_admin', pass: VALUE }) });
    const r = resolver();
    const named = await failure(r.resolve({ secretArn: ARN, key: 'pw' }));
    expect(named.message).toBe(`secret ${ARN} has no key "pw" (keys present: "username", "pass")`);
    const defaulted = await failure(r.resolve({ secretArn: ARN }));
    expect(defaulted.message).toBe(`secret ${ARN} has no key "password" (keys present: "username", "pass"); name the field with key: in the reference`);
    for (const e of [named, defaulted]) {
      expect(e.message).not.toContain(VALUE);
      expect(e.message).not.toContain('rekey_admin');
    }
  });

  test('a key asked of a secret that is not a JSON object, and a non-string field, are refused', async () => {
    smMock.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ SecretString: VALUE });
    smMock.on(GetSecretValueCommand, { SecretId: OTHER_ARN }).resolves({ SecretString: JSON.stringify({ password: 1234567 }) });
    const r = resolver();
    const plain = await failure(r.resolve({ secretArn: ARN, key: 'password' }));
    expect(plain.message).toBe(`secret ${ARN} is not a JSON object, so it has no key "password"; remove key to use the secret as is`);
    expect(plain.message).not.toContain(VALUE);
    const numeric = await failure(r.resolve({ secretArn: OTHER_ARN }));
    expect(numeric.message).toBe(`secret ${OTHER_ARN}: key "password" is a number, not a string`);
    expect(numeric.message).not.toContain('1234567');
  });

  test('SecretBinary is refused with a clear message', async () => {
    smMock.on(GetSecretValueCommand).resolves({ SecretBinary: new TextEncoder().encode(VALUE) });
    const err = await failure(resolver().resolve({ secretArn: ARN }));
    expect(err.message).toBe(`secret ${ARN} holds a binary value (SecretBinary); rekey needs a text secret: a plain string or JSON with a "password" field`);
  });
});

describe('composeServices against AWS', () => {
  const runbook = testRunbook({
    source: { engine: 'aurora-postgresql', identifier: 'app-db', database: 'app', username: 'rekey_admin', password: { secretArn: ARN } },
  });

  test('the fetched value is redacted from everything the session emits afterwards', async () => {
    smMock.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ SecretString: RDS_SECRET });
    const redact = redactorFor(runbook);
    const services = composeServices({ runbook, runId: RUN_ID, provider: 'aws', redactor: redact });
    expect(redact(`password ${VALUE}`)).toBe(`password ${VALUE}`);

    // A step that fetches the secret and then (wrongly) logs, publishes and returns it.
    const leaky: Step<RekeyServices, { dsn: string }> = {
      id: 'leaky',
      title: 'Leaky',
      describe: () => [],
      async run(ctx) {
        const pw = await ctx.services.secrets.resolve(ctx.services.runbook.source.password);
        ctx.report.log('info', `connecting with ${pw ?? ''}`);
        ctx.report.publish('positionOverlap', { fromLsn: '0/0', slot: 's', reason: `pw=${pw ?? ''}` });
        return { dsn: `host=x password=${pw ?? ''}` };
      },
    };
    const machine = new RunMachine(RUN_ID, [{ id: 'leaky', title: 'Leaky', hasGate: false }], {}, { redact });
    const journal = new MemoryJournalStore();
    const outcome = await executeFlow({ runId: RUN_ID, flow: { id: 'f', steps: [leaky] }, services, journal, machine, approver: { decide: () => Promise.resolve(undefined) }, signal: new AbortController().signal, redact });
    expect(outcome.status).toBe('succeeded');
    expect(redact(`password ${VALUE}`)).toBe('password ***');
    const emitted = JSON.stringify({ journal: journal.records, snapshot: machine.getSnapshot() });
    expect(emitted).not.toContain(VALUE);
    expect(emitted).toContain('connecting with ***');
    expect(emitted).toContain('password=***');
  });

  test('without the session redactor a secret is not fetched at all', async () => {
    const services = composeServices({ runbook, runId: RUN_ID, provider: 'aws' });
    await expect(services.secrets.resolve({ secretArn: ARN })).rejects.toThrow(/without the session redactor/);
    expect(smMock.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });
});

describe('preflight with Secrets Manager references', () => {
  const secretRunbook = (dmsPassword?: SecretRef) =>
    testRunbook({
      source: { engine: 'aurora-postgresql', identifier: 'app-db', database: 'app', username: 'rekey_admin', password: { secretArn: ARN } },
      dms: { replicationInstance: { identifier: 'rekey-ri' }, sslMode: 'require', ...(dmsPassword ? { password: dmsPassword } : {}) },
    });

  function worldWithSecrets(runbook = secretRunbook()) {
    const world = new World(runbook);
    world.install();
    const services: RekeyServices = { ...world.services(), secrets: composeServices({ runbook, runId: RUN_ID, provider: 'aws', redactor: redactorFor(runbook) }).secrets };
    return { world, ctx: world.context({}, services) };
  }

  test('reads the secret and connects with it; the plan names the GetSecretValue call', async () => {
    smMock.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ SecretString: RDS_SECRET });
    const { world, ctx } = worldWithSecrets();
    const report = await runPreflight(ctx);
    expect(report.problems).toEqual([]);
    expect(world.opened[0]?.password).toBe(VALUE);
    expect(preflight.describe(ctx)).toContainEqual(expect.objectContaining({ target: 'secretsmanager:GetSecretValue', detail: `SecretId=${ARN}` }));
  });

  test('an unreadable source secret is a preflight problem, and the database is not touched', async () => {
    smMock.on(GetSecretValueCommand).rejects(awsError('AccessDeniedException', 'not authorized'));
    const { world, ctx } = worldWithSecrets();
    const err = await failure(preflight.run(ctx));
    expect(err.kind).toBe('preflight');
    expect(err.details).toEqual([`source.password: the source password cannot be read: access denied reading secret ${ARN}: the caller needs secretsmanager:GetSecretValue on it, and kms:Decrypt on its KMS key when the secret is encrypted with a customer managed key (AccessDeniedException: not authorized)`]);
    expect(world.opened).toEqual([]);
  });

  test('the DMS password secret is read at preflight too (same secret: still one call)', async () => {
    smMock.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ SecretString: RDS_SECRET });
    smMock.on(GetSecretValueCommand, { SecretId: OTHER_ARN }).rejects(awsError('ResourceNotFoundException', 'not found'));
    const missing = worldWithSecrets(secretRunbook({ secretArn: OTHER_ARN, key: 'password' }));
    expect((await runPreflight(missing.ctx)).problems).toEqual([`dms.password: the dms password cannot be read: secret ${OTHER_ARN} not found in us-east-1: check the ARN, its region and account (ResourceNotFoundException: not found)`]);

    smMock.resetHistory();
    const shared = worldWithSecrets(secretRunbook({ secretArn: ARN, key: 'password' }));
    expect((await runPreflight(shared.ctx)).problems).toEqual([]);
    expect(smMock.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });
});

describe('runbook references', () => {
  const text = (password: string) => `version: 1
name: t
region: us-east-1
account: "111122223333"
source: {engine: aurora-postgresql, identifier: app-db, database: app, username: rekey_admin, password: ${password}}
target: {kmsKeyId: alias/app-new}
dms: {replicationInstance: {identifier: rekey-ri}, sslMode: require}
`;

  test('a secret in another region of the same account is accepted, with an optional key', () => {
    const loaded = loadRunbook('t.yaml', text(`{secretArn: "${ARN}", key: password}`));
    expect(loaded.ok && loaded.runbook.source.password).toEqual({ secretArn: ARN, key: 'password' });
  });

  test('an empty key and a secret of another account are refused', () => {
    const empty = loadRunbook('t.yaml', text(`{secretArn: "${ARN}", key: ""}`));
    expect(empty.ok ? [] : empty.problems.map((p) => p.message)).toContainEqual(expect.stringMatching(/source\.password\.key: must not be empty/));
    const foreign = loadRunbook('t.yaml', text(`{secretArn: "${ARN.replace('111122223333', '999999999999')}"}`));
    expect(foreign.ok ? [] : foreign.problems.map((p) => p.message)).toContainEqual(expect.stringMatching(/account 999999999999 but the runbook account is 111122223333/));
  });
});
