// `rekey schema`: the JSON Schema of runbooks, for editors and CI validation.
import { runbookJsonSchema } from '../runbook/json-schema.js';

export function schemaCommand(): Record<string, unknown> {
  return runbookJsonSchema();
}
