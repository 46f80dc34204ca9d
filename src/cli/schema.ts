// `rekey schema`: the JSON Schema of runbooks, for editors and CI validation.
import { runbookJsonSchema } from '../runbook/json-schema.js';

export function schemaCommand(): number {
  process.stdout.write(`${JSON.stringify(runbookJsonSchema(), null, 2)}\n`);
  return 0;
}
