// Top lines: what is being moved where, under which key, for how long, and the rehearsal's live writes.
import { Box, Text } from 'ink';
import type { RunStatus } from '../src/engine/types.js';
import { formatClock, formatCount, truncate } from './format.js';
import { useTone } from './use-theme.js';

/** Live write-load numbers (rehearsal only). */
export interface LoadStats {
  /** Acknowledged writes per second, recent. */
  perSecond: number;
  /** Acknowledged writes so far. */
  acknowledged: number;
  /** Writes that failed (expected during the fence). */
  errors: number;
}

export interface HeaderProps {
  /** Header facts from the CLI: runbook, source, target, oldKey, newKey, provider, engine. */
  info: Readonly<Record<string, string>>;
  runId: string;
  status: RunStatus;
  /** Epoch ms the run started. */
  startedAt: number;
  /** Epoch ms now (ticks once a second). */
  now: number;
  /** Present while a rehearsal write load runs. */
  load?: LoadStats;
  /** Terminal columns. */
  width: number;
  /** Only the first line (run, status, clock): a gate on a small terminal needs the room. */
  isOneLine?: boolean;
}

const STATUS_COLOR: Record<RunStatus, string> = {
  planned: 'gray',
  running: 'cyan',
  awaiting_approval: 'yellow',
  succeeded: 'green',
  failed: 'red',
  interrupted: 'yellow',
  rolled_back: 'yellow',
};

export function Header({ info, runId, status, startedAt, now, load, width, isOneLine = false }: HeaderProps) {
  const tone = useTone();
  const w = Math.max(20, width);
  const source = info.source ?? '?';
  const target = info.target ?? '?';
  const oldKey = info.oldKey ?? 'current key';
  const newKey = info.newKey ?? '?';
  const mode = info.provider === 'rehearsal' ? 'rehearsal' : (info.provider ?? '');
  return (
    <Box flexDirection="column" width={w}>
      <Box justifyContent="space-between">
        <Text wrap="truncate-end">
          <Text bold>rekey</Text> {truncate(info.runbook ?? '', Math.max(8, w - 48))}
          {mode ? <Text color={tone('magenta')}> [{mode}]</Text> : null}
        </Text>
        <Text wrap="truncate-end">
          <Text dimColor>run </Text>
          {runId} <Text color={tone(STATUS_COLOR[status])}>{status.replace('_', ' ')}</Text> <Text dimColor>{formatClock(now - startedAt)}</Text>
        </Text>
      </Box>
      {isOneLine ? null : (
        <>
      <Text wrap="truncate-end">
        <Text dimColor>db  </Text>
        {source} <Text dimColor>→</Text> {target}
      </Text>
      <Text wrap="truncate-end">
        <Text dimColor>key </Text>
        {oldKey} <Text dimColor>→</Text> <Text color={tone('cyan')}>{newKey}</Text>
      </Text>
      {load ? (
        <Text wrap="truncate-end">
          <Text dimColor>writes </Text>
          {formatCount(load.perSecond)}/s <Text dimColor>acknowledged</Text> {formatCount(load.acknowledged)} <Text dimColor>errors</Text>{' '}
          <Text color={load.errors > 0 ? tone('yellow') : undefined}>{formatCount(load.errors)}</Text>
        </Text>
      ) : null}
        </>
      )}
    </Box>
  );
}
