// Recognises "no usable AWS credentials" among SDK errors, so a command can say it once, with the fix, instead
// of once per AWS call with the SDK's class names.
import { awsErrorName } from './errors.js';

/** Error names the SDK uses when no credentials could be found, or the ones found are expired or unknown to AWS. */
const CREDENTIAL_ERRORS = new Set([
  'CredentialsProviderError',
  'TokenProviderError',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'UnauthorizedException',
]);

/** Whether `error` (or any error in its cause chain) says the caller has no usable AWS credentials. */
export function isCredentialsError(error: unknown): boolean {
  let e: unknown = error;
  for (let depth = 0; depth < 5 && e !== undefined && e !== null; depth++) {
    if (CREDENTIAL_ERRORS.has(awsErrorName(e))) return true;
    if (e instanceof Error && /Could not load credentials from any providers|The SSO session .* has expired|Token is expired/i.test(e.message)) return true;
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}

/** One sentence naming the credential problem and the ways to supply credentials. */
export function credentialsProblem(region: string, error: unknown): string {
  const expired = error instanceof Error && /expired/i.test(error.message);
  const what = expired ? 'the AWS credentials found have expired' : 'no usable AWS credentials were found';
  return (
    `${what} (region ${region}); nothing about the source, the key or DMS could be checked. Supply credentials with ` +
    '--profile NAME or AWS_PROFILE=NAME (a profile in ~/.aws/config), `aws sso login --profile NAME` for IAM Identity Center (SSO), ' +
    'or the environment variables AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), then run again'
  );
}
