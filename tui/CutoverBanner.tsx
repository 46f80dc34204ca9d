// From the fence to the switch writes to the source are blocked: one unmistakable line says so, counting against
// the prediction and the fence limit; once the switch is done (or the fence undone) it says writes flow again.
import { Box, Text } from 'ink';
import { windowText, type CutoverWindow } from '../src/present/cutover-window.js';
import { useTone } from './use-theme.js';

export interface CutoverBannerProps {
  window: CutoverWindow;
  width: number;
}

export function CutoverBanner({ window: w, width }: CutoverBannerProps) {
  const tone = useTone();
  const over = w.fenceLimitSeconds !== undefined && w.blockedMs / 1000 > w.fenceLimitSeconds * 0.8;
  if (w.phase === 'open') {
    return (
      <Box width={width}>
        <Text bold inverse color={tone(over ? 'red' : 'yellow')} wrap="truncate-end">
          {' '}
          {windowText(w).replace(/^writes blocked/, 'WRITES BLOCKED')}{' '}
        </Text>
      </Box>
    );
  }
  return (
    <Box width={width}>
      <Text color={tone(w.closedBy === 'switch' ? 'green' : 'yellow')} wrap="truncate-end">
        {windowText(w)}; writes flow again{w.closedBy === 'switch' ? ' on the new key' : ' (source unfenced)'}
      </Text>
    </Box>
  );
}
