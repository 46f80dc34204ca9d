// The keys, shown with `?`.
import { Box, Text } from 'ink';

const KEYS: [string, string][] = [
  ['?', 'show or hide this help'],
  ['l', 'show or hide the log'],
  ['a', 'abort safely: finish or undo the step in flight, leave the source writable'],
  ['q', 'quit: stop safely and leave the run resumable (prints the resume command)'],
  ['Ctrl-C', 'same as q; press twice to force'],
  ['at a gate', 'type the confirmation text + Enter approves; n (nothing typed) or Esc declines'],
];

export function Help({ width }: { width: number }) {
  return (
    <Box flexDirection="column" width={width} borderStyle="single" borderDimColor>
      <Text bold>Keys</Text>
      {KEYS.map(([k, v]) => (
        <Text key={k} wrap="wrap">
          <Text bold>{k.padEnd(10)}</Text> {v}
        </Text>
      ))}
    </Box>
  );
}
