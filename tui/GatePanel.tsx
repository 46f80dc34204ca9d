// The cutover gate: what is known now, exactly what approval sets in motion (in order), and a typed
// confirmation. Approving takes the exact confirmation text and Enter; `n` (nothing typed) or Esc declines.
import { Box, Text, useInput } from 'ink';
import { useRef, useState } from 'react';
import type { CutoverFactKey } from '../src/engine/facts.js';
import type { ApprovalRequest } from '../src/engine/types.js';
import { truncate } from './format.js';
import { useTone } from './use-theme.js';

export interface GatePanelProps {
  /** The waiting request. */
  request: ApprovalRequest;
  /** Extra facts the TUI knows (current latency, validation age...), shown after the request's own. */
  known?: Readonly<Record<string, string>>;
  /** Whether keys go to this panel. */
  isActive: boolean;
  /** Called once with the answer. */
  onAnswer: (decision: 'approved' | 'declined') => void;
  /** Terminal columns. */
  width: number;
  /** Actions to list at once (from the terminal's height); the rest scroll with ↑/↓. */
  maxActions?: number;
}

/** How people read each fact of the cutover gate (CutoverGateFacts); a new fact needs its label here. */
const FACT_LABELS: Readonly<Record<CutoverFactKey, string>> = {
  source: 'source',
  newKey: 'new key',
  switch: 'switch',
  latencySeconds: 'latency (s)',
  validationAgeSeconds: 'validation age (s)',
  tablesCompared: 'tables compared',
  tablesDifferingBeforeFence: 'tables differing before fence',
  predictedWindowSeconds: 'predicted window (s)',
  awsRenameDnsSeconds: 'aws rename dns (s)',
  tablesWithoutPrimaryKey: 'tables without primary key',
  sessionsOfRekeyLoginAtPreflight: 'sessions of rekey login at preflight',
  cdcStartedBeforeSnapshot: 'cdc started before snapshot',
};

/** `tablesDifferingBeforeFence` -> `tables differing before fence`, `latencySeconds` -> `latency (s)`; other keys as they are. */
export function factLabel(key: string): string {
  return Object.prototype.hasOwnProperty.call(FACT_LABELS, key) ? FACT_LABELS[key as CutoverFactKey] : key;
}

function factText(v: string | number | boolean): string {
  return typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v);
}

export function GatePanel({ request, known = {}, isActive, onAnswer, width, maxActions = Infinity }: GatePanelProps) {
  const tone = useTone();
  // The buffer lives in a ref too: keys can arrive faster than renders, and each must see the previous ones.
  const typedRef = useRef('');
  const [typed, setTypedState] = useState('');
  const [isWrong, setIsWrong] = useState(false);
  const [answered, setAnswered] = useState<'approved' | 'declined' | undefined>(undefined);
  const [offset, setOffset] = useState(0);
  const room = Math.max(1, Math.min(maxActions, request.actions.length));
  const lastOffset = request.actions.length - room;
  const confirm = request.confirmText;
  // `n` declines only when it cannot be the start of the confirmation text.
  const canDeclineWithN = confirm === undefined || !confirm.startsWith('n');

  const setTyped = (text: string): void => {
    typedRef.current = text;
    setTypedState(text);
    setIsWrong(false);
  };
  const answer = (d: 'approved' | 'declined'): void => {
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
      if (key.upArrow) return setOffset((o) => Math.max(0, o - 1));
      if (key.downArrow) return setOffset((o) => Math.min(lastOffset, o + 1));
      if (key.pageUp) return setOffset((o) => Math.max(0, o - room));
      if (key.pageDown) return setOffset((o) => Math.min(lastOffset, o + room));
      if (key.ctrl || key.meta || key.tab || key.leftArrow || key.rightArrow) return;
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

  const facts: [string, string][] = [...Object.entries(request.facts).map(([k, v]): [string, string] => [factLabel(k), factText(v)]), ...Object.entries(known)];
  const keyWidth = Math.min(30, Math.max(0, ...facts.map(([k]) => k.length)));
  const inner = Math.max(20, width - 4);
  return (
    <Box flexDirection="column" borderStyle="double" borderColor={tone('yellow')} paddingX={1} width={width}>
      <Text bold color={tone('yellow')} wrap="wrap">
        Gate “{request.id}”: {request.summary}
      </Text>
      {facts.length > 0 ? (
        <Box flexDirection="column" marginTop={1}>
          <Text bold>What is known now</Text>
          {facts.map(([k, v]) => (
            <Text key={k} wrap="truncate-end">
              <Text dimColor>{truncate(k, keyWidth).padEnd(keyWidth)} </Text>
              {v}
            </Text>
          ))}
        </Box>
      ) : null}
      <Box flexDirection="column" marginTop={1}>
        <Text bold>Approving starts, in this order</Text>
        {request.actions.slice(offset, offset + room).map((a, i) => (
          <Text key={offset + i} wrap="truncate-end">
            <Text dimColor>{String(offset + i + 1).padStart(2)}.</Text> <Text color={tone('cyan')}>[{truncate(a.target, 28)}]</Text> {truncate(a.summary, inner)}
          </Text>
        ))}
        {lastOffset > 0 ? (
          <Text color={tone('yellow')}>
            actions {offset + 1}-{offset + room} of {request.actions.length}: ↑/↓ to scroll the rest
          </Text>
        ) : null}
      </Box>
      <Box flexDirection="column" marginTop={1}>
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
