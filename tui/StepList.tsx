// The steps: finished ones printed once above (<Static>), the running one with a spinner and progress,
// and a short look at what comes next.
import { Box, Static, Text } from 'ink';
import type { StepView } from '../src/engine/run-machine.js';
import { formatDuration, progressBar, SPINNER, statusSymbol, truncate } from './format.js';
import { expectedLeftMs } from '../src/present/expected.js';
import type { FinishedStep } from './use-finished.js';
import { useTone } from './use-theme.js';

export interface StepListProps {
  /** Header info: expected durations of long steps (`expect.<stepId>`), for an ETA where AWS gives none. */
  info?: Readonly<Record<string, string>>;
  /** Every step of the flow, in order. */
  steps: readonly StepView[];
  /** Append-only list of finished steps (see useFinished). */
  finished: readonly FinishedStep[];
  /** Epoch ms now, for running durations and the spinner. */
  now: number;
  /** Terminal columns. */
  width: number;
  /** How many pending steps to list after the current one. */
  upcoming?: number;
}

const SYMBOL_COLOR: Record<FinishedStep['status']['kind'], string> = { succeeded: 'green', failed: 'red', skipped: 'gray', rolled_back: 'yellow' };

function FinishedLine({ step, width }: { step: FinishedStep; width: number }) {
  const tone = useTone();
  const s = step.status;
  const note =
    s.kind === 'succeeded' ? (s.resumed ? 'earlier run' : formatDuration(s.durationMs)) : s.kind === 'failed' ? formatDuration(Date.parse(s.endedAt) - Date.parse(s.startedAt)) : s.kind === 'skipped' ? s.reason : 'undone';
  return (
    <Box flexDirection="column" width={width}>
      <Box>
        <Text color={tone(SYMBOL_COLOR[s.kind])}>{statusSymbol(s.kind)} </Text>
        <Box flexGrow={1}>
          <Text wrap="truncate-end">{step.title}</Text>
        </Box>
        <Text dimColor> {truncate(note, 24)}</Text>
      </Box>
      {s.kind === 'failed' ? (
        <Box flexDirection="column" paddingLeft={2}>
          <Text color={tone('red')} wrap="wrap">
            {s.error.message}
          </Text>
          {(s.error.details ?? []).map((d, i) => (
            <Text key={i} wrap="wrap">
              - {d}
            </Text>
          ))}
        </Box>
      ) : null}
    </Box>
  );
}

function ActiveLine({ step, now, width, info = {} }: { step: StepView; now: number; width: number; info?: Readonly<Record<string, string>> }) {
  const tone = useTone();
  const s = step.status;
  if (s.kind === 'awaiting_approval') {
    return (
      <Box>
        <Text color={tone('yellow')}>{statusSymbol(s.kind)} </Text>
        <Box flexGrow={1}>
          <Text wrap="truncate-end">{step.title}</Text>
        </Box>
        <Text color={tone('yellow')}> waiting for approval</Text>
      </Box>
    );
  }
  if (s.kind !== 'running') return null;
  const p = step.progress;
  const barWidth = Math.max(10, Math.min(30, width - 40));
  return (
    <Box flexDirection="column">
      <Box>
        <Text color={tone('cyan')}>{SPINNER[Math.floor(now / 1000) % SPINNER.length]} </Text>
        <Box flexGrow={1}>
          <Text wrap="truncate-end" bold>
            {step.title}
            {s.attempt > 1 ? <Text dimColor> (attempt {s.attempt})</Text> : null}
          </Text>
        </Box>
        {/* Whole seconds, and nothing in the first one: a running step never reads `0ms`. */}
        {now - Date.parse(s.startedAt) >= 1000 ? <Text dimColor> {formatDuration(Math.floor((now - Date.parse(s.startedAt)) / 1000) * 1000)}</Text> : null}
      </Box>
      {p?.percent !== undefined ? (
        <Box paddingLeft={2}>
          <Text color={tone('cyan')}>{progressBar(p.percent, barWidth)}</Text>
          <Text>
            {' '}
            {String(Math.round(p.percent)).padStart(3)}%
          </Text>
          {p.etaSeconds !== undefined ? <Text dimColor> eta {formatDuration(p.etaSeconds * 1000)}</Text> : null}
        </Box>
      ) : null}
      {p ? (
        <Box paddingLeft={2}>
          <Text dimColor wrap="truncate-end">
            {p.message}
            {p.etaSeconds === undefined ? expectedNote(info, step.id, now - Date.parse(s.startedAt)) : ''}
          </Text>
        </Box>
      ) : null}
    </Box>
  );
}

/** ` · about 2m10s left (from 3 earlier run(s))` when the step's usual duration is known. */
function expectedNote(info: Readonly<Record<string, string>>, stepId: string, elapsedMs: number): string {
  const e = expectedLeftMs(info, stepId, elapsedMs);
  if (!e) return '';
  return e.leftMs > 0 ? ` · about ${formatDuration(Math.ceil(e.leftMs / 1000) * 1000)} left (from ${e.from})` : ` · taking longer than usual (${e.from})`;
}

export function StepList({ steps, finished, now, width, upcoming = 3, info }: StepListProps) {
  const active = steps.filter((s) => s.status.kind === 'running' || s.status.kind === 'awaiting_approval');
  const pending = steps.filter((s) => s.status.kind === 'pending');
  const shown = pending.slice(0, upcoming);
  return (
    <>
      <Static items={[...finished]}>{(step) => <FinishedLine key={step.key} step={step} width={width} />}</Static>
      <Box flexDirection="column" width={width}>
        {active.map((s) => (
          <ActiveLine key={s.id} step={s} now={now} width={width} {...(info ? { info } : {})} />
        ))}
        {shown.map((s) => (
          <Text key={s.id} dimColor wrap="truncate-end">
            {statusSymbol('pending')} {s.title}
          </Text>
        ))}
        {pending.length > shown.length ? <Text dimColor>  … {pending.length - shown.length} more</Text> : null}
      </Box>
    </>
  );
}
