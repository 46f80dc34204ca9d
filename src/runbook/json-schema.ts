// JSON Schema of the runbook format, for `rekey schema` and editors (yaml-language-server).
import { z } from 'zod';
import { runbookSchema } from './schema.js';

/** The runbook format as JSON Schema (draft 2020-12). Describes what authors write: defaulted keys are optional. */
export function runbookJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(runbookSchema, { io: 'input', unrepresentable: 'any' });
  return { ...schema, $id: 'https://rekey.dev/schema/runbook-v1.json', title: 'rekey runbook v1' };
}
