// CDC latency over the last minutes as a character chart, with the threshold line and the sustain window.
import { Box, Text } from 'ink';
import { CHART_MARK, formatSeconds, latencyChart, type CellKind } from './format.js';
import { useTone } from './use-theme.js';

type Point = { at: number; value: number };

export interface LatencyPanelProps {
  /** CDCLatencySource history (seconds). */
  source: readonly Point[];
  /** CDCLatencyTarget history (seconds). */
  target: readonly Point[];
  /** The cutover threshold (seconds), when known. */
  threshold?: number;
  /** Seconds latency has stayed under the threshold. */
  sustained?: number;
  /** Seconds it must stay under. */
  sustainRequired?: number;
  /** Epoch ms now (the right edge of the chart). */
  now: number;
  /** Terminal columns. */
  width: number;
  /** How far back the chart reaches (default: the data's age, between 1 and 5 minutes). */
  windowMs?: number;
  /** Chart rows (default 6). */
  height?: number;
}

const CELL_COLOR: Record<CellKind, string | undefined> = { empty: undefined, source: 'cyan', target: 'magenta', both: 'blue', threshold: 'yellow' };

/** Consecutive cells of one kind become one Text, so a row is a handful of spans rather than one per cell. */
function Row({ cells }: { cells: { ch: string; kind: CellKind }[] }) {
  const tone = useTone();
  const spans: { kind: CellKind; text: string }[] = [];
  for (const c of cells) {
    const last = spans[spans.length - 1];
    if (last && last.kind === c.kind) last.text += c.ch;
    else spans.push({ kind: c.kind, text: c.ch });
  }
  return (
    <Text>
      {spans.map((s, i) => {
        const color = CELL_COLOR[s.kind];
        return (
          <Text key={i} color={color ? tone(color) : undefined}>
            {s.text}
          </Text>
        );
      })}
    </Text>
  );
}

export function LatencyPanel({ source, target, threshold, sustained, sustainRequired, now, width, windowMs: fixedWindow, height = 6 }: LatencyPanelProps) {
  const tone = useTone();
  const first = Math.min(source[0]?.at ?? now, target[0]?.at ?? now);
  // A young series fills the chart instead of sitting in its last column; minutes stay whole for the label.
  const windowMs = fixedWindow ?? Math.min(5, Math.max(1, Math.ceil((now - first) / 60_000))) * 60_000;
  const axis = 7;
  const chartWidth = Math.max(10, width - axis - 3);
  const chart = latencyChart({ source, target, threshold, now, windowMs, width: chartWidth, height });
  const lastSource = source[source.length - 1]?.value;
  const lastTarget = target[target.length - 1]?.value;
  const isMet = sustained !== undefined && sustainRequired !== undefined && sustained >= sustainRequired;
  const label = (r: number): string => {
    if (r === 0) return formatSeconds(chart.max);
    if (r === chart.thresholdRow && threshold !== undefined) return formatSeconds(threshold);
    if (r === height - 1) return '0s';
    return '';
  };
  return (
    <Box flexDirection="column" width={width} borderStyle="single" borderDimColor paddingX={0}>
      <Text wrap="truncate-end">
        <Text bold>CDC latency</Text> <Text color={tone('cyan')}>{CHART_MARK.source} source {lastSource !== undefined ? formatSeconds(lastSource) : '–'}</Text>{' '}
        <Text color={tone('magenta')}>{CHART_MARK.target} target {lastTarget !== undefined ? formatSeconds(lastTarget) : '–'}</Text>
        {threshold !== undefined ? <Text color={tone('yellow')}> {CHART_MARK.threshold} threshold {formatSeconds(threshold)}</Text> : null}
      </Text>
      {chart.rows.map((cells, r) => (
        <Box key={r}>
          <Text dimColor>{label(r).padStart(axis - 1)}│</Text>
          <Row cells={cells} />
        </Box>
      ))}
      <Text wrap="truncate-end">
        <Text dimColor>{' '.repeat(axis - 1)}└ last {Math.round(windowMs / 60_000)} min </Text>
        {sustainRequired !== undefined ? (
          isMet ? (
            <Text color={tone('green')}>
              ✔ under threshold for {Math.round(sustained ?? 0)}s of {Math.round(sustainRequired)}s: sustain window met
            </Text>
          ) : (
            <Text color={tone('yellow')}>
              under threshold for {Math.round(sustained ?? 0)}s of {Math.round(sustainRequired)}s required
            </Text>
          )
        ) : null}
      </Text>
    </Box>
  );
}
