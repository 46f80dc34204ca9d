// The cutover session screen: reads the run through useRun only, lays out the panels, and turns keys into
// the callbacks the renderer supplies (answer a gate, abort, quit). It never touches the engine itself.
import { Box, Text, useInput } from 'ink';
import { useState } from 'react';
import type { CutoverFactKey } from '../src/engine/facts.js';
import type { LogLine, RunSnapshot } from '../src/engine/run-machine.js';
import { formatDuration, formatSeconds, readPreflight, readValidation, type ValidationView } from './format.js';
import { GatePanel } from './GatePanel.js';
import { Header, type LoadStats } from './Header.js';
import { Help } from './Help.js';
import { LatencyPanel } from './LatencyPanel.js';
import { LogPane } from './LogPane.js';
import { StepList } from './StepList.js';
import { ValidationTable } from './ValidationTable.js';
import { useClock } from './use-clock.js';
import { useFinished } from './use-finished.js';
import { useRun, type RunSource } from './use-run.js';
import { useTerminalSize } from './use-terminal-size.js';
import { useTone } from './use-theme.js';

export interface AppProps {
  /** The run to show (the RunMachine). */
  run: RunSource;
  /** Renderer notices (lock take-over, signals), shown in the log pane. */
  notices?: readonly LogLine[];
  /** `a`: stop safely, undoing the in-flight part. */
  onAbort: () => void;
  /** `q`: stop safely and leave the run resumable. */
  onQuit: () => void;
  /** Ctrl-C (the terminal is in raw mode, so it arrives as a key). */
  onInterrupt: () => void;
  /** The person answered the gate `requestId`. */
  onAnswer: (requestId: string, decision: 'approved' | 'declined') => void;
  /** Minimum ms between renders caused by engine events (default 100). */
  throttleMs?: number;
}

/** The latest validation pass: the final one, or the one taken before the fence. */
export function latestValidation(published: RunSnapshot['published']): ValidationView | undefined {
  const final = readValidation(published.validation);
  const pre = readValidation(published['validation-pre-fence']);
  const preView = pre ? { ...pre, phase: pre.phase ?? 'pre-fence' } : undefined;
  if (!final) return preView;
  if (!preView) return final;
  return (final.at ?? '') >= (preView.at ?? '') ? final : preView;
}

/**
 * What the TUI can add to a gate's own facts: current latency, age of the last validation, predicted window,
 * tables without a primary key; each only when the engine's facts do not already say it.
 */
export function knownFacts(snap: RunSnapshot, gateFacts: Readonly<Record<string, unknown>>, now: number): Record<string, string> {
  // The gate's facts are the typed CutoverGateFacts: look them up by their declared names.
  const covers = (key: CutoverFactKey): boolean => gateFacts[key] !== undefined;
  const known: Record<string, string> = {};
  const src = snap.metrics['cdc.latency.source']?.value;
  const tgt = snap.metrics['cdc.latency.target']?.value;
  if ((src !== undefined || tgt !== undefined) && !covers('latencySeconds')) {
    known['current latency'] = `source ${src !== undefined ? formatSeconds(src) : '–'}, target ${tgt !== undefined ? formatSeconds(tgt) : '–'}`;
  }
  const v = latestValidation(snap.published);
  if (v && !covers('validationAgeSeconds')) {
    const bad = v.tables.filter((t) => t.status !== 'match').length;
    const age = v.at ? Date.parse(v.at) : NaN;
    known['last validation'] = `${Number.isFinite(age) ? `${formatDuration(now - age)} ago, ` : ''}${v.tables.length} tables, ${bad === 0 ? 'all match' : `${bad} not matching`}`;
  }
  const pre = readPreflight(snap.published.preflight);
  if (pre?.estimateSeconds !== undefined && !covers('predictedWindowSeconds')) known['predicted write-unavailable window'] = `about ${formatSeconds(pre.estimateSeconds)}`;
  // The names help even when the engine gives a count.
  const hasPkFact = covers('tablesWithoutPrimaryKey');
  if (pre && pre.tablesWithoutPrimaryKey.length > 0) known[hasPkFact ? '  which' : 'tables without primary key'] = pre.tablesWithoutPrimaryKey.join(', ');
  else if (pre && !hasPkFact) known['tables without primary key'] = 'none';
  return known;
}

function loadStats(snap: RunSnapshot): LoadStats | undefined {
  const m = snap.metrics;
  const ack = m['load.acknowledged'];
  if (!ack) return undefined;
  return { acknowledged: ack.value, perSecond: m['load.perSecond']?.value ?? 0, errors: m['load.errors']?.value ?? 0 };
}

/** Lines around the gate's action list: header, active step, footer, the panel's border, titles and prompt. */
const GATE_CHROME_LINES = 22;

const FINAL = new Set(['succeeded', 'failed', 'interrupted', 'rolled_back']);

export function App({ run, notices = [], onAbort, onQuit, onInterrupt, onAnswer, throttleMs = 100 }: AppProps) {
  const snap = useRun(run, throttleMs);
  const tone = useTone();
  const { columns, rows } = useTerminalSize();
  const [isHelpShown, setHelpShown] = useState(false);
  const [isLogShown, setLogShown] = useState(false);
  const [stopping, setStopping] = useState<'abort' | 'quit' | undefined>(undefined);
  // A frame every two seconds for the elapsed times and the spinner: each Ink frame redraws the whole live area
  // (string widths of every cell), and one a second cost 3-6 % of a core while a step waits; the budget is 5 %
  // (npm run bench). Engine events still render at once (throttled to 10 a second).
  const now = useClock(2000);
  const finished = useFinished(snap.steps);
  const width = Math.max(40, columns - 1);

  const gate = snap.gate && !snap.gate.decision ? snap.gate.request : undefined;
  const isFinal = FINAL.has(snap.status);

  useInput(
    (input) => {
      if (input === '?') setHelpShown((v) => !v);
      else if (input === 'l') setLogShown((v) => !v);
      else if (input === 'a') {
        setStopping('abort');
        onAbort();
      } else if (input === 'q') {
        setStopping('quit');
        onQuit();
      }
    },
    { isActive: gate === undefined && stopping === undefined && !isFinal },
  );
  useInput(
    (input, key) => {
      if (key.ctrl && input === 'c') {
        setStopping((s) => s ?? 'quit');
        onInterrupt();
      }
    },
    { isActive: true },
  );

  const src = snap.metrics['cdc.latency.source'];
  const tgt = snap.metrics['cdc.latency.target'];
  const validation = latestValidation(snap.published);
  const threshold = snap.metrics['cdc.threshold']?.value;
  const sustained = snap.metrics['cdc.sustained']?.value;
  const required = snap.metrics['cdc.sustain.required']?.value;
  const logs = notices.length > 0 ? [...snap.logs, ...notices].sort((a, b) => a.at.localeCompare(b.at)) : snap.logs;
  // At a gate the panel needs the room: facts, the actions, the prompt.
  const isCompact = gate !== undefined;
  const known = gate ? knownFacts(snap, gate.facts, now) : {};

  return (
    <Box flexDirection="column">
      <StepList steps={snap.steps} finished={finished} now={now} width={width} upcoming={gate ? 0 : 3} />
      <Box flexDirection="column" marginTop={1}>
        <Header info={snap.info} runId={snap.runId} status={snap.status} startedAt={Date.parse(snap.startedAt)} now={now} width={width} {...(loadStats(snap) ? { load: loadStats(snap)! } : {})} />
      </Box>
      {!isCompact && (src || tgt) ? (
        <LatencyPanel
          source={src?.history ?? []}
          target={tgt?.history ?? []}
          now={now}
          width={width}
          {...(threshold !== undefined ? { threshold } : {})}
          {...(sustained !== undefined ? { sustained } : {})}
          {...(required !== undefined ? { sustainRequired: required } : {})}
        />
      ) : null}
      {!isCompact && validation ? <ValidationTable validation={validation} now={now} width={width} /> : null}
      {gate ? (
        <GatePanel
          key={`${gate.stepId}:${gate.id}`}
          request={gate}
          known={known}
          isActive={stopping === undefined}
          onAnswer={(d) => onAnswer(gate.id, d)}
          width={width}
          maxActions={Math.max(3, rows - GATE_CHROME_LINES - Object.keys(gate.facts).length - Object.keys(known).length)}
        />
      ) : null}
      {isLogShown ? <LogPane logs={logs} width={width} /> : null}
      {isHelpShown ? <Help width={width} /> : null}
      <Box width={width}>
        {stopping ? (
          <Text color={tone('yellow')} wrap="truncate-end">
            {stopping === 'abort' ? 'aborting safely: finishing or undoing the step in flight, the source stays writable…' : 'quitting safely: the run stops and stays resumable…'}
          </Text>
        ) : isFinal ? (
          <Text wrap="truncate-end">{snap.message ?? snap.status}</Text>
        ) : gate ? (
          <Text dimColor wrap="truncate-end">
            waiting for your answer · Ctrl-C quits (resumable)
          </Text>
        ) : (
          <Text dimColor wrap="truncate-end">
            ? help · l log · a abort safely · q quit (resumable)
          </Text>
        )}
      </Box>
    </Box>
  );
}
