// The cutover session screen: reads the run through useRun only, lays out the panels, and turns keys into
// the callbacks the renderer supplies (answer a gate, abort, quit). It never touches the engine itself.
import { Box, Text, useInput } from 'ink';
import { useState } from 'react';
import type { CutoverFactKey } from '../src/engine/facts.js';
import type { LogLine, RunSnapshot } from '../src/engine/run-machine.js';
import { formatDuration, formatSeconds, readPreflight, readValidation, type ValidationView } from './format.js';
import { cutoverWindow } from '../src/present/cutover-window.js';
import { CutoverBanner } from './CutoverBanner.js';
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
import { useTerminalSize, type TerminalSize } from './use-terminal-size.js';
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
  /** The terminal's size (default: the output stream's, kept current on resize); tests set it. */
  size?: TerminalSize;
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

/** `source 0.4s, target 0.7s, sampled 12.0s ago`: the latest CloudWatch samples and how old they are. */
function liveLatency(snap: RunSnapshot, now: number): string {
  const s = snap.metrics['cdc.latency.source'];
  const t = snap.metrics['cdc.latency.target'];
  const sampledAt = Math.max(Date.parse(s?.at ?? '') || 0, Date.parse(t?.at ?? '') || 0);
  const ageMs = Math.max(0, now - sampledAt);
  const age = sampledAt <= 0 ? '' : ageMs < 1000 ? ', sampled just now' : `, sampled ${formatDuration(ageMs)} ago`;
  return `source ${s ? formatSeconds(s.value) : '–'}, target ${t ? formatSeconds(t.value) : '–'}${age}`;
}

/** ISO time of the newest latency sample. */
function latestSample(snap: RunSnapshot): string | undefined {
  const times = [snap.metrics['cdc.latency.source']?.at, snap.metrics['cdc.latency.target']?.at].filter((t): t is string => t !== undefined);
  return times.length > 0 ? times.sort().at(-1) : undefined;
}

/**
 * The gate's facts are frozen when it opens; these replace the ones that change while it waits: the latest CDC
 * latency (with the age of its sample) and the age of the last validation, ticking.
 */
export function liveFacts(snap: RunSnapshot, gateFacts: Readonly<Record<string, unknown>>, now: number): Record<string, string> {
  const live: Record<string, string> = {};
  const hasLatency = snap.metrics['cdc.latency.source'] !== undefined || snap.metrics['cdc.latency.target'] !== undefined;
  const v = latestValidation(snap.published);
  const at = v?.at ? Date.parse(v.at) : NaN;
  // By the typed names of CutoverGateFacts.
  for (const [k, value] of Object.entries(gateFacts)) {
    if (k === ('latencySeconds' satisfies CutoverFactKey) && hasLatency) live[k] = liveLatency(snap, now);
    if (k === ('latencySampledAt' satisfies CutoverFactKey) && hasLatency) live[k] = latestSample(snap) ?? String(value);
    if (k === ('validationAgeSeconds' satisfies CutoverFactKey) && typeof value === 'number') {
      const opened = snap.gate ? gateOpenedAt(snap.gate.request, now) : now;
      const ageMs = Number.isFinite(at) ? now - at : value * 1000 + (now - opened);
      live[k] = formatDuration(Math.max(0, ageMs));
    }
  }
  return live;
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
    known['current latency'] = liveLatency(snap, now);
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

const gateOpened = new WeakMap<object, number>();

/** When this renderer first saw the gate request (the request is one object for as long as it waits). */
function gateOpenedAt(request: object, now: number): number {
  const seen = gateOpened.get(request);
  if (seen !== undefined) return seen;
  gateOpened.set(request, now);
  return now;
}

/** Live lines of the step list: the running or waiting step (and its progress lines), upcoming steps, `… N more`. */
function stepListLines(steps: RunSnapshot['steps'], upcoming: number): number {
  let n = 0;
  for (const s of steps) {
    if (s.status.kind === 'awaiting_approval') n += 1;
    if (s.status.kind === 'running') n += 1 + (s.progress?.percent !== undefined ? 1 : 0) + (s.progress ? 1 : 0);
  }
  const pending = steps.filter((s) => s.status.kind === 'pending').length;
  return n + Math.min(upcoming, pending) + (pending > upcoming ? 1 : 0);
}

function loadStats(snap: RunSnapshot): LoadStats | undefined {
  const m = snap.metrics;
  const ack = m['load.acknowledged'];
  if (!ack) return undefined;
  return { acknowledged: ack.value, perSecond: m['load.perSecond']?.value ?? 0, errors: m['load.errors']?.value ?? 0 };
}

/** Header facts with what the run learnt: the key being left (preflight), and that the name moved after the switch. */
function headerInfo(snap: RunSnapshot): Readonly<Record<string, string>> {
  const oldKey = snap.published.preflight?.source?.kmsKeyId;
  const switched = snap.steps.some((s) => s.id === 'switch' && s.status.kind === 'succeeded');
  if (!oldKey && !switched) return snap.info;
  return {
    ...snap.info,
    ...(oldKey && !snap.info.oldKey ? { oldKey } : {}),
    ...(switched ? { target: `${snap.info.target ?? 'the new database'} (switched: ${snap.info.source ?? 'the source name'} now names it)` } : {}),
  };
}

const FINAL = new Set(['succeeded', 'failed', 'interrupted', 'rolled_back']);

export function App({ run, notices = [], onAbort, onQuit, onInterrupt, onAnswer, throttleMs = 100, size }: AppProps) {
  const snap = useRun(run, throttleMs);
  const tone = useTone();
  const terminal = useTerminalSize();
  const { columns, rows } = size ?? terminal;
  const [isHelpShown, setHelpShown] = useState(false);
  const [isLogShown, setLogShown] = useState(false);
  const [stopping, setStopping] = useState<'abort' | 'quit' | undefined>(undefined);
  const [isAbortAsked, setAbortAsked] = useState(false);
  // A frame every two seconds for the elapsed times and the spinner: each Ink frame redraws the whole live area
  // (string widths of every cell), and one a second cost 3-6 % of a core while a step waits; the budget is 5 %
  // (npm run bench). Engine events still render at once (throttled to 10 a second).
  // While writes are blocked the banner counts tenths of seconds: a faster clock for those few seconds only.
  const isWindowOpen = cutoverWindow(snap, Date.now())?.phase === 'open';
  const now = useClock(isWindowOpen ? 200 : 2000);
  const cutover = cutoverWindow(snap, now);
  const finished = useFinished(snap.steps);
  const width = Math.max(40, columns - 1);

  const gate = snap.gate && !snap.gate.decision ? snap.gate.request : undefined;
  const isFinal = FINAL.has(snap.status);

  useInput(
    (input) => {
      if (isAbortAsked) {
        // `a` asked first: only y confirms; any other key keeps the run going.
        setAbortAsked(false);
        if (input === 'y') {
          setStopping('abort');
          onAbort();
        }
        return;
      }
      if (input === '?') setHelpShown((v) => !v);
      else if (input === 'l') setLogShown((v) => !v);
      else if (input === 'a') setAbortAsked(true);
      else if (input === 'q') {
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
  // Everything live must stay shorter than the terminal: taller, and Ink clears the whole screen on every frame.
  const isTight = rows < 32;
  const load = loadStats(snap);
  const upcoming = gate ? 0 : 3;
  const headerLines = gate && isTight ? 1 : 1 + 3 + (load ? 1 : 0);
  const showLog = isLogShown && !gate;
  const showHelp = isHelpShown && !gate;
  let room = rows - 1 - stepListLines(snap.steps, upcoming) - headerLines - (cutover ? 1 : 0) - 1;
  const helpLines = showHelp ? 12 : 0;
  room -= helpLines;
  const logLines = showLog ? Math.max(1, Math.min(8, room - 3 - 6)) : 0;
  if (showLog) room -= logLines + 3;
  const showLatency = !isCompact && (src !== undefined || tgt !== undefined) && room >= 7;
  const chartHeight = showLatency ? Math.max(3, Math.min(6, room - 4 - (validation ? 4 : 0))) : 0;
  if (showLatency) room -= chartHeight + 4;
  const validationRows = !isCompact && validation ? Math.min(8, room - 3) : 0;
  const gateRows = Math.max(8, room);

  return (
    <Box flexDirection="column">
      <StepList steps={snap.steps} finished={finished} now={now} width={width} upcoming={upcoming} info={snap.info} />
      <Box flexDirection="column" marginTop={gate && isTight ? 0 : 1}>
        <Header info={headerInfo(snap)} runId={snap.runId} status={snap.status} startedAt={Date.parse(snap.startedAt)} now={now} width={width} isOneLine={gate !== undefined && isTight} {...(load ? { load } : {})} />
      </Box>
      {cutover ? <CutoverBanner window={cutover} width={width} /> : null}
      {showLatency ? (
        <LatencyPanel
          height={chartHeight}
          source={src?.history ?? []}
          target={tgt?.history ?? []}
          now={now}
          width={width}
          {...(threshold !== undefined ? { threshold } : {})}
          {...(sustained !== undefined ? { sustained } : {})}
          {...(required !== undefined ? { sustainRequired: required } : {})}
        />
      ) : null}
      {validation && validationRows >= 1 ? <ValidationTable validation={validation} now={now} width={width} maxRows={validationRows} /> : null}
      {gate ? (
        <GatePanel
          key={`${gate.stepId}:${gate.id}`}
          request={gate}
          known={known}
          live={liveFacts(snap, gate.facts, now)}
          isActive={stopping === undefined}
          onAnswer={(d) => onAnswer(gate.id, d)}
          width={width}
          maxRows={gateRows}
          isTight={isTight}
        />
      ) : null}
      {showLog ? <LogPane logs={logs} width={width} lines={logLines} /> : null}
      {showHelp ? <Help width={width} /> : null}
      <Box width={width}>
        {isAbortAsked && !stopping ? (
          <Text color={tone('yellow')} wrap="truncate-end">
            abort safely? The step in flight is finished or undone, the source stays writable. y aborts, any other key goes on
          </Text>
        ) : stopping ? (
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
