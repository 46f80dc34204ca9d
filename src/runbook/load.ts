// Loads a runbook from YAML and reports every problem at once as file:line:col, never throwing.
// Order: YAML syntax -> shape (zod) -> checks that need several fields or the raw text (secrets, ARNs, TLS, URLs).
import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { runbookSchema } from './schema.js';
import type { Runbook, SecretRef } from './schema.js';

/** One thing wrong with a runbook file, at a 1-based position. */
export interface RunbookProblem {
  /** The file as the caller named it. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  col: number;
  /** What is wrong, starting with the field path when there is one. */
  message: string;
}

/** A valid runbook (defaults applied), or every problem found. */
export type LoadResult = { ok: true; runbook: Runbook; path: string } | { ok: false; problems: RunbookProblem[] };

/** Options for loadRunbook. */
export interface LoadOptions {
  /** When given, every {env: NAME} secret reference must name a set, non-empty variable in it. */
  env?: Record<string, string | undefined>;
}

type Path = (string | number)[];

/** Where in the file a problem points: at a key, at a value, or at the mapping that lacks a key. */
type Anchor = 'key' | 'value' | 'parent';

interface Finding {
  path: Path;
  anchor: Anchor;
  message: string;
  /** For a missing key: its name. */
  missing?: string;
  /** For an unknown key: the allowed key it is probably a typo of. */
  suggests?: string;
}

const SECRET_KEY = /(password|passwd|pwd|secret)$/i;
const SECRET_HINT = 'use {env: NAME} or {secretArn: ...} instead';
const MYSQL_FAMILY = new Set(['aurora-mysql', 'mysql', 'mariadb']);

/** `file:line:col: message`, the form the CLI prints on stderr. */
export function formatProblem(p: RunbookProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.message}`;
}

/** Reads (unless `text` is given), parses and validates a runbook. Never throws. */
export function loadRunbook(path: string, text?: string, opts: LoadOptions = {}): LoadResult {
  const at = (line: number, col: number, message: string): RunbookProblem => ({ file: path, line, col, message });
  let source = text;
  if (source === undefined) {
    try {
      source = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { ok: false, problems: [at(1, 1, `cannot read the runbook (${code ?? 'read error'})`)] };
    }
  }

  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const syntax = [...doc.errors, ...doc.warnings].map((e) => {
    const pos = lines.linePos(e.pos[0]);
    return at(pos.line, pos.col, `invalid YAML: ${e.message}`);
  });
  // Shape errors on a document that did not parse would only echo the syntax error.
  if (syntax.length > 0) return { ok: false, problems: sortProblems(syntax) };

  const cycle = recursiveAlias(doc);
  if (cycle) {
    const pos = lines.linePos(cycle);
    return { ok: false, problems: [at(pos.line, pos.col, 'invalid YAML: this alias refers to a node that contains it')] };
  }

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, problems: [at(1, 1, `invalid YAML: ${(err as Error).message}`)] };
  }
  if (data === null || data === undefined) {
    return { ok: false, problems: [at(1, 1, 'the runbook is empty; expected a mapping with version, name, region, source, target and dms')] };
  }
  if (!isPlainObject(data)) {
    const pos = doc.contents?.range ? lines.linePos(doc.contents.range[0]) : { line: 1, col: 1 };
    return { ok: false, problems: [at(pos.line, pos.col, `the runbook must be a mapping of keys to values, not ${describeValue(data)}`)] };
  }

  const own = [...secretFindings(data, []), ...crossFieldFindings(data)];
  const parsed = runbookSchema.safeParse(data, { error: friendlyMessage });
  const shape = parsed.success ? [] : parsed.error.issues.flatMap((i) => issueFindings(i, [], data));
  // A hand-written finding explains its field better than the generic shape issue at or under it, and a
  // misspelt key already says which key is missing.
  const kept = shape.filter(
    (f) =>
      !own.some((o) => startsWith(f.path, o.path)) &&
      !(f.missing && shape.some((u) => u.suggests === f.missing && startsWith(u.path, f.path) && u.path.length === f.path.length + 1)),
  );
  if (parsed.success && opts.env) own.push(...envFindings(parsed.data, opts.env));

  const problems = [...own, ...kept].map((f) => {
    const pos = position(doc, lines, f);
    return at(pos.line, pos.col, f.message);
  });
  if (problems.length > 0 || !parsed.success) return { ok: false, problems: sortProblems(problems) };
  return { ok: true, runbook: parsed.data, path };
}

/** The secret an {env} reference points at; undefined for secretArn refs (an AWS adapter resolves those) or an unset variable. */
export function resolveSecret(ref: SecretRef, env: Record<string, string | undefined>): string | undefined {
  if (!('env' in ref)) return undefined;
  const value = env[ref.env];
  return value === '' ? undefined : value;
}

/** Names where a secret lives without revealing it: `env:PGPASSWORD` or `secretsmanager:<arn>`. */
export function describeSecretRef(ref: SecretRef): string {
  return 'env' in ref ? `env:${ref.env}` : `secretsmanager:${ref.secretArn}`;
}

// ---------- zod issues -> findings ----------

type Issue = z.core.$ZodIssue;

function issueFindings(issue: Issue, base: Path, data: unknown): Finding[] {
  const path = [...base, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
  if (issue.code === 'unrecognized_keys') return unknownKeyFindings(path, issue.keys);
  const value = lookup(data, path);
  if (value === undefined && path.length > 0) {
    const parent = path.slice(0, -1);
    const missing = String(path[path.length - 1]);
    // A custom rule (a key required only with some other setting) says why; a plain missing key needs no more.
    const why = issue.code === 'custom' ? `: ${issue.message}` : '';
    return [{ path: parent, anchor: 'parent', missing, message: prefix(parent, `missing required key "${missing}"${why}`) }];
  }
  if (issue.code === 'invalid_union') {
    const branch = bestBranch(issue.errors, value);
    if (branch) return branch.flatMap((i) => issueFindings(i, path, data));
  }
  return [{ path, anchor: 'value', message: prefix(path, issue.message) }];
}

function unknownKeyFindings(parent: Path, keys: string[]): Finding[] {
  const allowed = allowedKeys(parent);
  return keys.map((key) => {
    const near = closest(key, allowed);
    const hint = near ? ` (did you mean "${near}"?)` : allowed.length > 0 ? `; allowed: ${allowed.join(', ')}` : '';
    return { path: [...parent, key], anchor: 'key', suggests: near, message: prefix(parent, `unknown key "${key}"${hint}`) };
  });
}

/**
 * Picks the union member the author most likely meant: the one with fewest issues. On a tie, only unknown keys that
 * every member rejects are worth reporting; with none, the union's own message says what forms are allowed.
 */
function bestBranch(branches: Issue[][], value: unknown): Issue[] | undefined {
  const sorted = [...branches].sort((a, b) => a.length - b.length);
  const [first, second] = sorted;
  if (!first) return undefined;
  if (!second || first.length < second.length) return first;
  if (!isPlainObject(value)) return undefined;
  const unknownIn = (b: Issue[]) =>
    new Set(b.flatMap((i) => (i.code === 'unrecognized_keys' && i.path.length === 0 ? i.keys : [])));
  const common = [...unknownIn(first)].filter((k) => branches.every((b) => unknownIn(b).has(k)));
  const unknown: Issue = { code: 'unrecognized_keys', keys: common, path: [], message: '', input: value };
  return common.length > 0 ? [unknown] : undefined;
}

/** The per-parse error map: plain messages for issues whose schema did not set its own. */
function friendlyMessage(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type': {
      const got = describeValue(iss.input);
      const quote = iss.expected === 'string' && typeof iss.input === 'number' ? ' (put it in quotes)' : '';
      return `expected ${typeName(iss.expected)}, got ${got}${quote}`;
    }
    case 'invalid_value': {
      const values = iss.values.map((v) => String(v));
      if (values.length === 1) return `must be ${values[0] ?? ''}`;
      const given = typeof iss.input === 'string' ? `"${iss.input}" is not one of` : 'must be one of';
      const near = typeof iss.input === 'string' ? closest(iss.input, values) : undefined;
      return `${given}: ${values.join(', ')}${near ? ` (did you mean "${near}"?)` : ''}`;
    }
    case 'too_big':
      return `must be ${iss.inclusive === false ? 'less than' : 'at most'} ${String(iss.maximum)}${unit(iss.origin)}`;
    case 'too_small':
      if (iss.minimum === 1 && iss.inclusive !== false && iss.origin === 'string') return 'must not be empty';
      if (iss.minimum === 1 && iss.inclusive !== false && iss.origin === 'array') return 'must have at least one item';
      return `must be ${iss.inclusive === false ? 'more than' : 'at least'} ${String(iss.minimum)}${unit(iss.origin)}`;
    case 'invalid_format':
      return 'has the wrong format';
    case 'invalid_union':
      return 'does not match any allowed form';
    case 'not_multiple_of':
      return `must be a multiple of ${String(iss.divisor)}`;
    case 'custom':
    case 'invalid_element':
    case 'invalid_key':
    case 'unrecognized_keys':
      // Refinements carry their own message; unknown keys are rewritten with a did-you-mean later.
      return undefined;
  }
}

function unit(origin: string): string {
  if (origin === 'string') return ' characters';
  if (origin === 'array' || origin === 'set') return ' items';
  return '';
}

function typeName(expected: string): string {
  const names: Record<string, string> = { object: 'a mapping', array: 'a list', string: 'a string', number: 'a number', int: 'a whole number', boolean: 'true or false' };
  return names[expected] ?? expected;
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return 'true/false';
  return typeof v;
}

/** Keys the schema allows in the mapping at `path` (union members contribute all of theirs). */
function allowedKeys(path: Path): string[] {
  let schemas: z.ZodType[] = [runbookSchema];
  for (const seg of path) {
    schemas = schemas.flatMap(unwrap).flatMap((s) => {
      if (s instanceof z.ZodObject && typeof seg === 'string') {
        const child = (s.shape as Record<string, z.ZodType | undefined>)[seg];
        return child ? [child] : [];
      }
      if (s instanceof z.ZodArray && typeof seg === 'number') return [s.element as z.ZodType];
      return [];
    });
  }
  const keys = schemas.flatMap(unwrap).flatMap((s) => (s instanceof z.ZodObject ? Object.keys(s.shape) : []));
  return [...new Set(keys)];
}

function unwrap(s: z.ZodType): z.ZodType[] {
  if (s instanceof z.ZodOptional || s instanceof z.ZodDefault) return unwrap(s.unwrap() as z.ZodType);
  if (s instanceof z.ZodUnion) return (s.options as z.ZodType[]).flatMap(unwrap);
  return [s];
}

// ---------- checks zod cannot express per field ----------

/** Inline secrets anywhere in the file: a secret-named key with a literal value, or a URL carrying a password. */
function secretFindings(value: unknown, path: Path): Finding[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => secretFindings(v, [...path, i]));
  if (isPlainObject(value)) {
    return Object.entries(value).flatMap(([k, v]) => {
      if (SECRET_KEY.test(k) && (typeof v === 'string' || typeof v === 'number')) {
        return [{ path: [...path, k], anchor: 'value' as const, message: prefix([...path, k], `inline secret; ${SECRET_HINT}`) }];
      }
      return secretFindings(v, [...path, k]);
    });
  }
  if (typeof value === 'string' && value.includes('://') && urlPassword(value)) {
    const how =
      pathString(path) === 'rehearsal.source.url'
        ? 'name the environment variable that holds it in urlPasswordEnv'
        : 'reference it with {env: NAME} or {secretArn: ...}';
    return [{ path, anchor: 'value', message: prefix(path, `the URL contains a password; remove it and ${how}`) }];
  }
  return [];
}

function urlPassword(value: string): boolean {
  try {
    return new URL(value).password !== '';
  } catch {
    // Not parseable as a URL: still catch the user:pass@host shape.
    return /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]+@/i.test(value);
  }
}

/** Rules across fields: ARN region/account, TLS mode per engine, the rehearsal URL scheme. */
function crossFieldFindings(data: Record<string, unknown>): Finding[] {
  const out: Finding[] = [];
  // Comparing against a region or account that is itself invalid would only repeat that problem.
  const region = runbookSchema.shape.region.safeParse(data.region).data;
  const account = runbookSchema.shape.account.safeParse(data.account).data;
  for (const [path, arn] of arnStrings(data, [])) {
    const parts = arn.split(':');
    const arnRegion = parts[3];
    const arnAccount = parts[4];
    // A secret is read in its own region (Secrets Manager is reachable across regions); everything else must be local.
    if (region && arnRegion && arnRegion !== region && path.at(-1) !== 'secretArn') {
      out.push({ path, anchor: 'value', message: prefix(path, `ARN is in region ${arnRegion} but the runbook region is ${region}`) });
    }
    if (account && arnAccount && arnAccount !== account) {
      out.push({ path, anchor: 'value', message: prefix(path, `ARN is in account ${arnAccount} but the runbook account is ${account}`) });
    }
  }

  const engine = lookup(data, ['source', 'engine']);
  const dms = lookup(data, ['dms']);
  if (typeof engine === 'string' && isPlainObject(dms)) {
    const ssl = dms.sslMode ?? 'verify-full';
    if (ssl === 'require' && MYSQL_FAMILY.has(engine)) {
      out.push({
        path: ['dms', 'sslMode'],
        anchor: 'value',
        message: `dms.sslMode: DMS does not support "require" for ${engine}; use verify-ca or verify-full with dms.certificateArn`,
      });
    }
    if ((ssl === 'verify-ca' || ssl === 'verify-full') && dms.certificateArn === undefined && data.rehearsal === undefined) {
      const why = dms.sslMode === undefined ? 'sslMode defaults to verify-full, which' : `sslMode ${ssl}`;
      out.push({
        path: ['dms'],
        anchor: 'parent',
        message: `dms: missing key "certificateArn": ${why} needs the CA certificate imported into DMS (or add a rehearsal section to only rehearse)`,
      });
    }
  }

  const url = lookup(data, ['rehearsal', 'source', 'url']);
  if (typeof url === 'string' && typeof engine === 'string') {
    const path = ['rehearsal', 'source', 'url'];
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
    const wanted = MYSQL_FAMILY.has(engine) ? ['mysql'] : ['postgres', 'postgresql'];
    if (scheme === undefined) {
      out.push({ path, anchor: 'value', message: prefix(path, `must be a URL like ${wanted[0] ?? ''}://user@host:port/database`) });
    } else if (!wanted.includes(scheme)) {
      out.push({ path, anchor: 'value', message: prefix(path, `scheme ${scheme}:// does not match engine ${engine}; use ${wanted[0] ?? ''}://`) });
    } else {
      // The URL's database is the one adopted; the runbook's steps connect to source.database: they must be the same.
      const database = lookup(data, ['source', 'database']);
      let named: string | undefined;
      try {
        named = decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || undefined;
      } catch {
        named = undefined;
      }
      if (named !== undefined && typeof database === 'string' && named !== database) {
        out.push({ path, anchor: 'value', message: prefix(path, `names database ${named}, but source.database is ${database}; the rehearsal adopts the URL's database and rekey connects to source.database: make them the same`) });
      }
    }
  }
  return out;
}

/** Every ARN-looking string outside the rehearsal section (whose keys may live elsewhere on purpose). */
function arnStrings(value: unknown, path: Path): [Path, string][] {
  if (path.length === 1 && path[0] === 'rehearsal') return [];
  if (Array.isArray(value)) return value.flatMap((v, i) => arnStrings(v, [...path, i]));
  if (isPlainObject(value)) return Object.entries(value).flatMap(([k, v]) => arnStrings(v, [...path, k]));
  return typeof value === 'string' && value.startsWith('arn:') ? [[path, value]] : [];
}

function envFindings(runbook: Runbook, env: Record<string, string | undefined>): Finding[] {
  const refs: [Path, SecretRef | undefined][] = [
    [['source', 'password'], runbook.source.password],
    [['dms', 'password'], runbook.dms?.password],
  ];
  return refs.flatMap(([path, ref]) =>
    ref && 'env' in ref && resolveSecret(ref, env) === undefined
      ? [{ path: [...path, 'env'], anchor: 'value' as const, message: prefix(path, `environment variable ${ref.env} is not set`) }]
      : [],
  );
}

/** Offset of an alias used inside the node it names (which would make the data endless), if any. */
function recursiveAlias(doc: Document): number | undefined {
  let found: number | undefined;
  visit(doc, {
    Alias(_key, alias, path) {
      const target = alias.resolve(doc);
      if (target && path.includes(target)) {
        found = alias.range?.[0] ?? 0;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}

// ---------- positions ----------

function position(doc: Document, lines: LineCounter, f: Finding): { line: number; col: number } {
  const { node, key, parentKey } = locate(doc, f.path);
  let target: YamlNode | null | undefined;
  if (f.anchor === 'key') target = key ?? node;
  else if (f.anchor === 'parent') target = key ?? parentKey ?? node;
  // An empty value has no text of its own; its key is where the eye goes.
  else target = node && !(isScalar(node) && node.value === null && node.source === '') ? node : key;
  const offset = target?.range?.[0] ?? doc.contents?.range?.[0] ?? 0;
  return lines.linePos(offset);
}

/** Walks the YAML tree along `path` as far as it exists; returns the deepest node and the key that names it. */
function locate(doc: Document, path: Path): { node?: YamlNode; key?: YamlNode; parentKey?: YamlNode } {
  let node = doc.contents ?? undefined;
  let key: YamlNode | undefined;
  let parentKey: YamlNode | undefined;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return { node, key, parentKey };
      parentKey = key;
      key = isScalar(pair.key) ? pair.key : undefined;
      node = (pair.value as YamlNode | null) ?? undefined;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as YamlNode | undefined;
      if (!item) return { node, key, parentKey };
      parentKey = key;
      key = undefined;
      node = item;
    } else {
      return { node, key, parentKey };
    }
  }
  return { node, key, parentKey };
}

// ---------- small helpers ----------

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function lookup(data: unknown, path: Path): unknown {
  let cur = data;
  for (const seg of path) {
    if (Array.isArray(cur) && typeof seg === 'number') cur = cur[seg];
    else if (isPlainObject(cur)) cur = Object.hasOwn(cur, seg) ? cur[String(seg)] : undefined;
    else return undefined;
  }
  return cur;
}

function startsWith(path: Path, head: Path): boolean {
  return head.length <= path.length && head.every((seg, i) => seg === path[i]);
}

function pathString(path: Path): string {
  return path.map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : i === 0 ? seg : `.${seg}`)).join('');
}

function prefix(path: Path, message: string): string {
  return path.length === 0 ? message : `${pathString(path)}: ${message}`;
}

function sortProblems(problems: RunbookProblem[]): RunbookProblem[] {
  const seen = new Set<string>();
  return problems
    .filter((p) => {
      const id = formatProblem(p);
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    })
    .sort((a, b) => a.line - b.line || a.col - b.col || a.message.localeCompare(b.message));
}

/** The allowed word nearest to `word`, if close enough to be a likely typo (case-insensitive edit distance). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
