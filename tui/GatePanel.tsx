// The cutover gate: what is known now, exactly what approval sets in motion (in order), and a typed
// confirmation. Approving takes the exact confirmation text and Enter; `n` (nothing typed) or Esc declines.
import { Box, Text, useInput } from 'ink';
import { useRef, useState } from 'react';
import type { CutoverFactKey } from '../src/engine/facts.js';
import type { ApprovalRequest } from '../src/engine/types.js';
import { truncate } from './format.js';
import { useTone } from './use-theme.js';
import { wrapText } from './wrap.js';

export interface GatePanelProps {
  /** The waiting request. */
  request: ApprovalRequest;
  /** Extra facts the TUI knows (current latency, validation age...), shown after the request's own. */
  known?: Readonly<Record<string, string>>;
  /** Current values of request facts that change while the gate waits (latency, validation age), by fact key. */
  live?: Readonly<Record<string, string>>;
  /** Whether keys go to this panel. */
  isActive: boolean;
  /** Called once with the answer. */
  onAnswer: (decision: 'approved' | 'declined') => void;
  /** Terminal columns. */
  width: number;
  /** Actions to list at once (from the terminal's height); the rest scroll with ↑/↓. */
  maxActions?: number;
  /**
   * Lines the whole panel may take (from the terminal's height). The title and the approval prompt always show;
   * the facts and the actions share the rest, each scrolling when it does not fit (Tab moves ↑/↓ between them).
   */
  maxRows?: number;
  /** No blank lines between sections (small terminals). */
  isTight?: boolean;
}

/** How people read each fact of the cutover gate (CutoverGateFacts); a new fact needs its label here. */
const FACT_LABELS: Readonly<Record<CutoverFactKey, string>> = {
  source: 'source',
  newKey: 'new key',
  switch: 'switch',
  latencySeconds: 'latency (s)',
  latencySampledAt: 'latency sampled at',
  validationAgeSeconds: 'validation age (s)',
  tablesCompared: 'tables compared',
  tablesDifferingBeforeFence: 'tables differing before fence',
  consistentPoint: 'consistent point',
  tablesEqualAtConsistentPoint: 'tables equal at consistent point',
  rowsCompared: 'rows compared',
  consistentPointWindowMs: 'consistent point fence (ms)',
  comparedWholeWithoutPrimaryKey: 'compared whole (no primary key)',
  predictedWindowSeconds: 'predicted window (s)',
  replicasToRecreate: 'read replicas recreated after the switch',
  replicaRegions: 'Regions without a replica until recreated',
  withoutReplicasSeconds: 'new primary without replicas (s, expected)',
  globalSecondariesAddedAfterSwitch: 'global database secondaries re-added after the switch',
  awsRenameDnsSeconds: 'aws rename dns (s)',
  tablesWithoutPrimaryKey: 'tables without primary key',
  sessionsOfRekeyLoginAtPreflight: 'sessions of rekey login at preflight',
  cdcStartedBeforeSnapshot: 'cdc started before snapshot',
  expectedOutageSeconds: 'expected outage (s)',
  outageEstimateFrom: 'outage estimated from',
  readersOnNewCluster: 'readers on the new cluster',
  customEndpointsReady: 'custom endpoints ready',
  autoScalingAfterSwitch: 'auto scaling after the switch',
  customEndpointDeleteSeconds: 'custom endpoints deleted in the fence (s)',
  instanceNamesAfterSwitch: 'instance names kept after the switch',
};

/** `tablesDifferingBeforeFence` -> `tables differing before fence`, `latencySeconds` -> `latency (s)`; other keys as they are. */
export function factLabel(key: string): string {
  return Object.prototype.hasOwnProperty.call(FACT_LABELS, key) ? FACT_LABELS[key as CutoverFactKey] : key;
}

function factText(v: string | number | boolean): string {
  return typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v);
}

/** One fact as lines of `inner` cells: the label, then the value wrapped (never cut) beside it. */
function factLines(label: string, value: string, keyWidth: number, inner: number): { label: string; text: string }[] {
  const room = Math.max(8, inner - keyWidth - 1);
  return wrapText(value, room).map((text, i) => ({ label: i === 0 ? truncate(label, keyWidth).padEnd(keyWidth) : ' '.repeat(keyWidth), text }));
}

/** How many fact lines and actions fit in `body` lines, hint lines included (each region keeps a few lines). */
function shareRows(body: number, facts: number, actions: number): { facts: number; actions: number } {
  let f = facts;
  let a = actions;
  const need = (): number => f + a + (f < facts ? 1 : 0) + (a < actions ? 1 : 0);
  while (need() > body) {
    // The facts are what the decision rests on: the actions give way first, down to three.
    if (a > 3) a--;
    else if (f > 2) f--;
    else if (a > 1) a--;
    else if (f > 1) f--;
    else break;
  }
  return { facts: f, actions: a };
}

export function GatePanel({ request, known = {}, live = {}, isActive, onAnswer, width, maxActions = Infinity, maxRows, isTight = false }: GatePanelProps) {
  const tone = useTone();
  // The buffer lives in a ref too: keys can arrive faster than renders, and each must see the previous ones.
  const typedRef = useRef('');
  const [typed, setTypedState] = useState('');
  const [isWrong, setIsWrong] = useState(false);
  const [answered, setAnswered] = useState<'approved' | 'declined' | undefined>(undefined);
  const [rawOffset, setOffset] = useState(0);
  const [factOffset, setFactOffset] = useState(0);
  const [focus, setFocus] = useState<'actions' | 'facts'>('actions');
  const facts: [string, string][] = [...Object.entries(request.facts).map(([k, v]): [string, string] => [live[k] !== undefined ? factLabel(k).replace(/ \(s\)$/, '') : factLabel(k), live[k] ?? factText(v)]), ...Object.entries(known)];
  const keyWidth = Math.min(30, Math.max(0, ...facts.map(([k]) => k.length)));
  const inner = Math.max(20, width - 4);
  const allFactLines = facts.flatMap(([k, v]) => factLines(k, v, keyWidth, inner));
  const title = `Gate “${request.id}”: ${request.summary}`;
  const gap = isTight ? 0 : 1;
  const promptText = request.confirmText !== undefined ? `To approve, type ${request.confirmText} and press Enter. ${request.confirmText.startsWith('n') ? 'Esc declines.' : 'n (nothing typed) or Esc declines.'}` : 'Press y or Enter to approve, n or Esc to decline.';
  // Title, section headings, the prompt (and its input and refusal lines), borders: always shown.
  const chrome = 2 + wrapText(title, inner).length + (facts.length > 0 ? gap + 1 : 0) + gap + 1 + gap + wrapText(promptText, inner).length + (request.confirmText !== undefined ? 2 : 0);
  const wantedActions = Math.max(1, Math.min(maxActions, request.actions.length));
  const share = maxRows === undefined ? { facts: allFactLines.length, actions: wantedActions } : shareRows(Math.max(2, maxRows - chrome), allFactLines.length, wantedActions);
  const room = Math.max(1, Math.min(share.actions, request.actions.length));
  const lastOffset = request.actions.length - room;
  // A smaller terminal after a resize may leave the offset past the end.
  const offset = Math.min(rawOffset, Math.max(0, lastOffset));
  const factRoom = Math.max(0, share.facts);
  const lastFactOffset = Math.max(0, allFactLines.length - factRoom);
  const factsScroll = lastFactOffset > 0;
  // ↑/↓ scroll the region in focus; only a region that scrolls can have it.
  const scrolling = factsScroll && (focus === 'facts' || lastOffset <= 0) ? 'facts' : 'actions';
  const confirm = request.confirmText;
  // `n` declines only when it cannot be the start of the confirmation text.
  const canDeclineWithN = confirm === undefined || !confirm.startsWith('n');

  const setTyped = (text: string): void => {
    typedRef.current = text;
    setTypedState(text);
    setIsWrong(false);
  };
  // Answered once: keys already queued behind the answering one must not answer again.
  const answeredRef = useRef<'approved' | 'declined' | undefined>(undefined);
  const answer = (d: 'approved' | 'declined'): void => {
    if (answeredRef.current !== undefined) return;
    answeredRef.current = d;
    setAnswered(d);
    onAnswer(d);
  };

  useInput(
    (input, key) => {
      const current = typedRef.current;
      if (key.escape) return answer('declined');
      if (key.return) {
        if (confirm === undefined || current === confirm) return answer('approved');
        setIsWrong(true);
        return;
      }
      if (key.backspace || key.delete) return setTyped(current.slice(0, -1));
      if (key.tab) return setFocus((f) => (f === 'facts' ? 'actions' : 'facts'));
      if (scrolling === 'facts') {
        if (key.upArrow) return setFactOffset((o) => Math.max(0, o - 1));
        if (key.downArrow) return setFactOffset((o) => Math.min(lastFactOffset, o + 1));
        if (key.pageUp) return setFactOffset((o) => Math.max(0, o - factRoom));
        if (key.pageDown) return setFactOffset((o) => Math.min(lastFactOffset, o + factRoom));
      }
      if (key.upArrow) return setOffset((o) => Math.max(0, o - 1));
      if (key.downArrow) return setOffset((o) => Math.min(lastOffset, o + 1));
      if (key.pageUp) return setOffset((o) => Math.max(0, o - room));
      if (key.pageDown) return setOffset((o) => Math.min(lastOffset, o + room));
      if (key.ctrl || key.meta || key.leftArrow || key.rightArrow) return;
      if (current === '' && input === 'n' && canDeclineWithN) return answer('declined');
      if (confirm === undefined) {
        if (input === 'y') answer('approved');
        return;
      }
      // Pasted or fast-typed text can arrive as one chunk, Enter included: keep the printable part, then act on Enter.
      const [text = '', ...rest] = input.split(/[\r\n]/);
      const next = (current + text.replace(/[^\x20-\x7e]/g, '')).slice(0, 200);
      if (next !== current) setTyped(next);
      if (rest.length > 0) {
        if (next === confirm) return answer('approved');
        setIsWrong(true);
      }
    },
    { isActive: isActive && answered === undefined },
  );

  const shownFacts = allFactLines.slice(Math.min(factOffset, lastFactOffset), Math.min(factOffset, lastFactOffset) + factRoom);
  const firstFact = Math.min(factOffset, lastFactOffset);
  return (
    <Box flexDirection="column" borderStyle="double" borderColor={tone('yellow')} paddingX={1} width={width}>
      <Text bold color={tone('yellow')} wrap="wrap">
        {title}
      </Text>
      {facts.length > 0 ? (
        <Box flexDirection="column" marginTop={gap}>
          <Text bold>What is known now</Text>
          {shownFacts.map((l, i) => (
            <Text key={firstFact + i} wrap="truncate-end">
              <Text dimColor>{l.label} </Text>
              {l.text}
            </Text>
          ))}
          {factsScroll ? (
            <Text color={tone('yellow')} wrap="truncate-end">
              lines {firstFact + 1}-{firstFact + shownFacts.length} of {allFactLines.length}: {scrolling === 'facts' ? '↑/↓ to scroll' : 'Tab, then ↑/↓ to scroll'}
            </Text>
          ) : null}
        </Box>
      ) : null}
      <Box flexDirection="column" marginTop={gap}>
        <Text bold>Approving starts, in this order</Text>
        {request.actions.slice(offset, offset + room).map((a, i) => (
          <Text key={offset + i} wrap="truncate-end">
            <Text dimColor>{String(offset + i + 1).padStart(2)}.</Text> <Text color={tone('cyan')}>[{truncate(a.target, 28)}]</Text> {truncate(a.summary, inner)}
          </Text>
        ))}
        {lastOffset > 0 ? (
          <Text color={tone('yellow')} wrap="truncate-end">
            actions {offset + 1}-{offset + room} of {request.actions.length}: {scrolling === 'actions' ? '↑/↓ to scroll the rest' : 'Tab, then ↑/↓ to scroll the rest'}
          </Text>
        ) : null}
      </Box>
      <Box flexDirection="column" marginTop={gap}>
        {answered ? (
          <Text color={tone(answered === 'approved' ? 'green' : 'yellow')}>{answered === 'approved' ? '✔ approved, continuing…' : '✖ declined: the run stops here and can be resumed'}</Text>
        ) : confirm !== undefined ? (
          <>
            <Text wrap="wrap">
              To approve, type <Text bold>{confirm}</Text> and press Enter. <Text dimColor>{canDeclineWithN ? 'n (nothing typed) or Esc declines.' : 'Esc declines.'}</Text>
            </Text>
            <Text>
              <Text color={tone('yellow')}>› </Text>
              {typed}
              <Text inverse> </Text>
            </Text>
            {isWrong ? <Text color={tone('red')}>“{truncate(typed, 40)}” is not “{confirm}”: not approved</Text> : null}
          </>
        ) : (
          <Text>
            Press <Text bold>y</Text> or Enter to approve, <Text bold>n</Text> or Esc to decline.
          </Text>
        )}
      </Box>
    </Box>
  );
}
