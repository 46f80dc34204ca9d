// JSON Schema of the runbook format, for `rekey schema` and editors (yaml-language-server).
import { z } from 'zod';
import { runbookSchema, STRATEGIES, usesDms } from './schema.js';

/** The runbook format as JSON Schema (draft 2020-12). Describes what authors write: defaulted keys are optional. */
export function runbookJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(runbookSchema, { io: 'input', unrepresentable: 'any' });
  // The refinement that asks for dms only where DMS is used, as JSON Schema (zod cannot express it): strategy
  // absent (the default, dms-cdc) or a DMS strategy requires the dms section.
  const dmsStrategies = STRATEGIES.filter((strategy) => usesDms({ strategy }));
  const dmsRequired = {
    if: { anyOf: [{ not: { required: ['strategy'] } }, { required: ['strategy'], properties: { strategy: { enum: dmsStrategies, description: 'A strategy whose CDC runs as an AWS DMS task.' } } }] },
    then: { required: ['dms'] },
  };
  return { ...schema, allOf: [dmsRequired], $id: 'https://rekey.dev/schema/runbook-v1.json', title: 'rekey runbook v1' };
}
