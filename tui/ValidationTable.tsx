// Row counts per table on both sides; mismatches first so the problem is the first thing seen.
import { Box, Text } from 'ink';
import { formatCount, formatDuration, sortValidation, truncate, type ValidationView } from './format.js';
import { useTone } from './use-theme.js';

export interface ValidationTableProps {
  /** The latest validation pass. */
  validation: ValidationView;
  /** Epoch ms now, for the age of the pass. */
  now: number;
  /** Terminal columns. */
  width: number;
  /** Rows to show at most; the remaining matches are summarised. */
  maxRows?: number;
}

const STATUS_COLOR = { match: 'green', mismatch: 'red', error: 'yellow' } as const;

/** Before the fence a difference is drift: which side is ahead; after it, a mismatch. */
function statusWord(r: { status: string; sourceRows?: number | null; targetRows?: number | null }, phase: string | undefined): string {
  if (phase !== 'pre-fence' || r.status !== 'mismatch') return r.status;
  return (r.targetRows ?? 0) > (r.sourceRows ?? 0) ? 'ahead' : 'behind';
}

export function ValidationTable({ validation, now, width, maxRows = 8 }: ValidationTableProps) {
  const tone = useTone();
  const rows = sortValidation(validation.tables);
  const shown = rows.slice(0, maxRows);
  const hidden = rows.slice(maxRows);
  const bad = rows.filter((r) => r.status !== 'match').length;
  const numWidth = 12;
  const statusWidth = 9;
  const nameWidth = Math.max(10, width - 2 * (numWidth + 1) - statusWidth - 3);
  const age = validation.at ? Date.parse(validation.at) : NaN;
  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate-end">
        <Text bold>Validation</Text>
        {validation.phase ? <Text dimColor> ({validation.phase})</Text> : null} {rows.length} tables,{' '}
        {/* Before the fence writes go on: differences are drift, expected; only the fenced final pass decides. */}
        {validation.phase === 'pre-fence' ? (
          <Text color={tone(bad > 0 ? 'yellow' : 'green')}>{bad > 0 ? `${bad} drifting under live writes` : 'all match'}</Text>
        ) : (
          <Text color={tone(bad > 0 ? 'red' : 'green')}>{bad > 0 ? `${bad} not matching` : 'all match'}</Text>
        )}
        {Number.isFinite(age) ? <Text dimColor> · {formatDuration(now - age)} ago</Text> : null}
      </Text>
      <Text dimColor>
        {'table'.padEnd(nameWidth)} {'source rows'.padStart(numWidth)} {'target rows'.padStart(numWidth)} {'status'.padEnd(statusWidth)}
      </Text>
      {shown.map((r) => (
        <Text key={r.table}>
          {truncate(r.table, nameWidth).padEnd(nameWidth)} {formatCount(r.sourceRows).padStart(numWidth)} {formatCount(r.targetRows).padStart(numWidth)}{' '}
          <Text color={tone(validation.phase === 'pre-fence' && r.status === 'mismatch' ? 'yellow' : STATUS_COLOR[r.status])}>{statusWord(r, validation.phase).padEnd(statusWidth)}</Text>
        </Text>
      ))}
      {hidden.length > 0 ? (
        <Text dimColor>
          … {hidden.length} more ({hidden.filter((r) => r.status === 'match').length} matching)
        </Text>
      ) : null}
    </Box>
  );
}
