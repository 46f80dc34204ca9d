// Which tables a DMS task replicates: the selection rules of its TableMappings, with DMS's % wildcards.
import type { SourceTable } from '../engines/pg-ops.js';
import { awsFault } from './faults.js';

interface SelectionRule {
  schema: string;
  table: string;
  action: 'include' | 'exclude' | 'explicit';
}

/** The selection rules of a TableMappings document; throws the DMS fault when it is not one. */
export function parseSelection(json: string): SelectionRule[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw awsFault('dms', 'InvalidParameterValueException', 'Invalid table mappings: not JSON');
  }
  const rules = (doc as { rules?: unknown }).rules;
  if (!Array.isArray(rules)) throw awsFault('dms', 'InvalidParameterValueException', 'Invalid table mappings: no rules');
  return (rules as Record<string, unknown>[])
    .filter((r) => r['rule-type'] === 'selection')
    .map((r) => {
      const loc = (r['object-locator'] ?? {}) as Record<string, unknown>;
      const text = (v: unknown, def: string): string => (typeof v === 'string' ? v : def);
      const action = text(r['rule-action'], 'include');
      if (!['include', 'exclude', 'explicit'].includes(action)) throw awsFault('dms', 'InvalidParameterValueException', `Invalid table mappings: rule-action ${action}`);
      return { schema: text(loc['schema-name'], '%'), table: text(loc['table-name'], '%'), action: action as SelectionRule['action'] };
    });
}

/** Whether `value` matches a DMS pattern (`%` any run of characters). */
export function like(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('%').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(value);
}

/** Tables selected by the mapping rules; the sentinel table always rides along. */
export function selectTables(mappings: string, tables: SourceTable[], sentinel: string): SourceTable[] {
  const rules = parseSelection(mappings);
  const matches = (r: SelectionRule, t: SourceTable): boolean => {
    const [schema, name] = [t.name.slice(0, t.name.indexOf('.')), t.name.slice(t.name.indexOf('.') + 1)];
    return like(r.schema, schema) && like(r.table, name);
  };
  return tables.filter(
    (t) => t.name === `public.${sentinel}` || (rules.some((r) => r.action !== 'exclude' && matches(r, t)) && !rules.some((r) => r.action === 'exclude' && matches(r, t))),
  );
}
