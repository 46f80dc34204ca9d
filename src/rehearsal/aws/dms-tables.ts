// Which tables a DMS task replicates (the selection rules of its TableMappings, with DMS's % wildcards) and what
// DescribeTableStatistics reports for them.
import type { Core } from '../core.js';
import { myTables } from '../engines/my-ops.js';
import { targetTuples } from '../engines/pg-ops.js';
import type { SourceTable } from '../engines/pg-ops.js';
import type { Backend, TaskRecord } from '../registry.js';
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

/** The table statistics of a task, as DescribeTableStatistics lists them. */
export async function tableStatistics(core: Core, t: TaskRecord): Promise<Record<string, unknown>[]> {
  const cdc = t.cdc;
  if (!cdc) return [];
  if (cdc.mysql) return myTableStatistics(core, cdc.target, cdc.tables);
  const [s, g] = await Promise.all([targetTuples(cdc.source, cdc.tables), targetTuples(cdc.target, cdc.tables)]);
  const delta = (now: [number, number, number] | undefined, then: [number, number, number] | undefined, i: 0 | 1 | 2): number => Math.max(0, (now?.[i] ?? 0) - (then?.[i] ?? 0));
  const stats = cdc.tables.map((name) => {
    const b = cdc.baseline[name];
    const [schema = '', table = ''] = [name.slice(0, name.indexOf('.')), name.slice(name.indexOf('.') + 1)];
    return {
      SchemaName: schema, TableName: table, Inserts: delta(s[name], b?.source, 0), Updates: delta(s[name], b?.source, 1), Deletes: delta(s[name], b?.source, 2), Ddls: 0,
      AppliedInserts: delta(g[name], b?.target, 0), AppliedUpdates: delta(g[name], b?.target, 1), AppliedDeletes: delta(g[name], b?.target, 2), AppliedDdls: 0,
      FullLoadRows: 0, FullLoadErrorRows: 0, LastUpdateTime: new Date(core.now()), TableState: 'Table completed', ValidationState: 'Not enabled',
    };
  });
  return stats;
}

/** Table statistics of a MySQL task: the selected tables (MariaDB keeps no per-table change counters by default). */
async function myTableStatistics(core: Core, target: Backend, tables: string[]): Promise<Record<string, unknown>[]> {
  const present = new Set((await myTables(target)).map((n) => `${target.database}.${n}`));
  return tables.map((name) => ({
    SchemaName: name.slice(0, name.indexOf('.')), TableName: name.slice(name.indexOf('.') + 1), Inserts: 0, Updates: 0, Deletes: 0, Ddls: 0,
    AppliedInserts: 0, AppliedUpdates: 0, AppliedDeletes: 0, AppliedDdls: 0, FullLoadRows: 0, FullLoadErrorRows: 0, LastUpdateTime: new Date(core.now()),
    TableState: present.has(name) ? 'Table completed' : 'Table does not exist', ValidationState: 'Not enabled',
  }));
}
