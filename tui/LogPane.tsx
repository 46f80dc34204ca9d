// The latest log lines (engine logs and renderer notices), shown on demand with `l`.
import { Box, Text } from 'ink';
import type { LogLine } from '../src/engine/run-machine.js';
import { useTone } from './use-theme.js';

export interface LogPaneProps {
  /** Lines, oldest first; the last `lines` are shown. */
  logs: readonly LogLine[];
  /** How many lines to show. */
  lines?: number;
  /** Terminal columns. */
  width: number;
}

const LEVEL_COLOR: Record<LogLine['level'], string> = { debug: 'gray', info: 'white', warn: 'yellow', error: 'red' };

export function LogPane({ logs, lines = 8, width }: LogPaneProps) {
  const tone = useTone();
  const shown = logs.slice(-lines);
  return (
    <Box flexDirection="column" width={width} borderStyle="single" borderDimColor>
      <Text bold>Log {shown.length < logs.length ? <Text dimColor>(last {shown.length} of {logs.length})</Text> : null}</Text>
      {shown.length === 0 ? <Text dimColor>no log lines yet</Text> : null}
      {shown.map((l, i) => (
        <Text key={i} wrap="truncate-end">
          <Text dimColor>{l.at.slice(11, 19)} </Text>
          <Text color={tone(LEVEL_COLOR[l.level])}>{l.level === 'info' ? '' : `${l.level} `}</Text>
          {l.stepId ? <Text dimColor>[{l.stepId}] </Text> : null}
          {l.message}
        </Text>
      ))}
    </Box>
  );
}
