// DMS endpoint credentials and TLS: a Secrets Manager password becomes SecretsManagerSecretId + the access role in
// the engine's settings (no Username/Password in the request), a certificate means verify-full on both endpoints,
// and the plan says which. Request shapes asserted with aws-sdk-client-mock.
import { CreateEndpointCommand } from '@aws-sdk/client-database-migration-service';
import { buildFlow, planFlow, renderPlan } from '../../src/flows/index.js';
import { endpointAuth } from '../../src/steps/dms-setup.js';
import { dmsMock, mysqlRunbook, PASSWORD, runUntil, testRunbook, World } from './steps-world.js';

const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:rekey-dms-AbCdEf';
const ROLE_ARN = 'arn:aws:iam::111122223333:role/dms-secrets-access';
const CERT_ARN = 'arn:aws:dms:us-east-1:111122223333:cert:RDSGLOBALBUNDLE';

function endpoints(): Record<string, unknown>[] {
  return dmsMock.commandCalls(CreateEndpointCommand).map((c) => c.args[0].input as unknown as Record<string, unknown>);
}

describe('DMS endpoint authentication and TLS', () => {
  test('a {secretArn} DMS password with dms.secretsManagerAccessRoleArn: the endpoints name the secret, never carry the password; a certificate means verify-full', async () => {
    const base = testRunbook();
    const world = new World(testRunbook({ dms: { ...base.dms!, password: { secretArn: SECRET_ARN }, secretsManagerAccessRoleArn: ROLE_ARN, certificateArn: CERT_ARN, sslMode: 'require' } }));
    world.install();
    const flow = buildFlow(world.runbook);
    // Preflight reads the secret (rekey checks it resolves); the endpoints must not carry what it read.
    const services = { ...world.services(), secrets: { resolve: () => Promise.resolve(PASSWORD) } };
    await runUntil(flow, world.context({}, services), 'dms-setup');
    const [src, tgt] = endpoints();
    for (const e of [src, tgt]) {
      expect(e).not.toHaveProperty('Username');
      expect(e).not.toHaveProperty('Password');
      expect(e).toMatchObject({ SslMode: 'verify-full', CertificateArn: CERT_ARN });
      expect(e!.PostgreSQLSettings).toMatchObject({ SecretsManagerSecretId: SECRET_ARN, SecretsManagerAccessRoleArn: ROLE_ARN });
    }
    expect(src!.PostgreSQLSettings).toMatchObject({ SlotName: expect.stringMatching(/^rekey_/), PluginName: 'test-decoding' });
    expect(tgt!.PostgreSQLSettings).toMatchObject({ AfterConnectScript: "SET session_replication_role='replica'" });
    expect(JSON.stringify(endpoints())).not.toContain(PASSWORD);
    const plan = renderPlan(planFlow(flow, world.context()));
    expect(plan).toContain(`SecretsManagerSecretId=${SECRET_ARN} SecretsManagerAccessRoleArn=${ROLE_ARN} SslMode=verify-full CertificateArn=${CERT_ARN}`);
  });

  test('without the access role, or with an {env} password, the endpoints carry username and password', async () => {
    const world = new World();
    world.install();
    await runUntil(buildFlow(world.runbook), world.context(), 'dms-setup');
    for (const e of endpoints()) expect(e).toMatchObject({ Username: 'rekey_admin', Password: PASSWORD, SslMode: 'require' });
    expect(endpoints()[0]).not.toHaveProperty('PostgreSQLSettings.SecretsManagerSecretId');
    const rb = testRunbook();
    expect(endpointAuth(testRunbook({ dms: { ...rb.dms!, password: { secretArn: SECRET_ARN } } }))).toEqual({ sslMode: 'require' });
    expect(renderPlan(planFlow(buildFlow(world.runbook), world.context()))).toContain('Username=rekey_admin Password=<from the runbook\'s secret> SslMode=require');
  });

  test('MySQL: the secret goes into MySQLSettings, beside the engine settings', () => {
    const rb = mysqlRunbook();
    const auth = endpointAuth(mysqlRunbook({ dms: { ...rb.dms!, password: { secretArn: SECRET_ARN }, secretsManagerAccessRoleArn: ROLE_ARN, certificateArn: CERT_ARN } }));
    expect(auth).toEqual({ secret: { SecretsManagerSecretId: SECRET_ARN, SecretsManagerAccessRoleArn: ROLE_ARN }, sslMode: 'verify-full' });
  });
});
