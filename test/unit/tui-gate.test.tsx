import { describe, expect, it, jest } from '@jest/globals';
import { render } from 'ink-testing-library';
import type { ApprovalRequest } from '../../src/engine/types.js';
import { GatePanel, factLabel } from '../../tui/GatePanel.js';

const delay = (ms = 30): Promise<void> => new Promise((r) => setTimeout(r, ms));

const request: ApprovalRequest = {
  runId: 'r-1',
  stepId: 'fence',
  id: 'cutover',
  summary: 'Fence writes on orders-db and switch to the new key?',
  facts: { 'CDC latency (s)': 1.4, 'validation mismatches': 0, 'fence time-boxed': true },
  actions: [
    { kind: 'sql', target: 'source', summary: 'REVOKE write privileges from app roles' },
    { kind: 'sql', target: 'source', summary: 'write the sentinel row' },
    { kind: 'aws', target: 'dms:StopReplicationTask', summary: 'stop the CDC task' },
    { kind: 'aws', target: 'rds:ModifyDBCluster', summary: 'rename orders-db to orders-db-old' },
  ],
  confirmText: 'orders-db',
};

async function mount(req: ApprovalRequest = request) {
  const onAnswer = jest.fn<(d: 'approved' | 'declined') => void>();
  const r = render(<GatePanel request={req} known={{ 'tables without primary key': 'public.audit' }} isActive onAnswer={onAnswer} width={80} />);
  await delay();
  const type = async (text: string): Promise<void> => {
    for (const ch of text) {
      r.stdin.write(ch);
      await delay(5);
    }
    await delay();
  };
  return { ...r, onAnswer, type };
}

describe('GatePanel', () => {
  it('shows the facts, the exact actions in order and how to confirm', async () => {
    const { lastFrame } = await mount();
    const f = lastFrame()!;
    expect(f).toContain('Gate “cutover”: Fence writes on orders-db and switch to the new key?');
    expect(f).toMatch(/CDC latency \(s\)\s+1\.4/);
    expect(f).toMatch(/fence time-boxed\s+yes/);
    expect(f).toMatch(/tables without primary key\s+public\.audit/);
    const order = ['1. [source] REVOKE', '2. [source] write the sentinel', '3. [dms:StopReplicationTask]', '4. [rds:ModifyDBCluster] rename'].map((s) => f.indexOf(s));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(f).toContain('type orders-db and press Enter');
  });

  it('does not approve a wrong identifier, and says so', async () => {
    const { lastFrame, stdin, onAnswer, type } = await mount();
    await type('orders-dc');
    stdin.write('\r');
    await delay();
    expect(onAnswer).not.toHaveBeenCalled();
    expect(lastFrame()).toContain('“orders-dc” is not “orders-db”: not approved');
    // A prefix is not enough either.
    stdin.write('\u007f');
    stdin.write('\u007f');
    await delay();
    stdin.write('\r');
    await delay();
    expect(onAnswer).not.toHaveBeenCalled();
  });

  it('approves the exact identifier followed by Enter, once', async () => {
    const { lastFrame, stdin, onAnswer, type } = await mount();
    await type('orders-dx');
    stdin.write('\u007f'); // backspace fixes the typo
    await delay();
    await type('b');
    expect(onAnswer).not.toHaveBeenCalled();
    stdin.write('\r');
    await delay();
    expect(onAnswer.mock.calls).toEqual([['approved']]);
    expect(lastFrame()).toContain('approved, continuing');
    stdin.write('\r');
    await delay();
    expect(onAnswer).toHaveBeenCalledTimes(1);
  });

  it('declines with n when nothing is typed', async () => {
    const { lastFrame, stdin, onAnswer } = await mount();
    stdin.write('n');
    await delay();
    expect(onAnswer.mock.calls).toEqual([['declined']]);
    expect(lastFrame()).toContain('declined');
  });

  it('declines with Esc even after typing', async () => {
    const { stdin, onAnswer, type } = await mount();
    await type('ord');
    stdin.write('\u001b');
    await delay(60);
    expect(onAnswer.mock.calls).toEqual([['declined']]);
  });

  it('treats n inside the identifier as typing, not a decline', async () => {
    const { stdin, onAnswer, type } = await mount({ ...request, confirmText: 'inventory' });
    await type('inventory');
    expect(onAnswer).not.toHaveBeenCalled();
    stdin.write('\r');
    await delay();
    expect(onAnswer.mock.calls).toEqual([['approved']]);
  });

  it('lets an identifier start with n: then only Esc declines', async () => {
    const { lastFrame, stdin, onAnswer, type } = await mount({ ...request, confirmText: 'notes-db' });
    expect(lastFrame()).toContain('Esc declines.');
    expect(lastFrame()).not.toContain('n (nothing typed)');
    await type('notes-db');
    stdin.write('\r');
    await delay();
    expect(onAnswer.mock.calls).toEqual([['approved']]);
  });

  it('takes a pasted identifier in one chunk', async () => {
    const { stdin, onAnswer } = await mount();
    stdin.write('orders-db');
    await delay();
    stdin.write('\r');
    await delay();
    expect(onAnswer.mock.calls).toEqual([['approved']]);
  });

  it('takes the last characters and Enter arriving in one chunk', async () => {
    const { stdin, onAnswer, type } = await mount();
    await type('orders-d');
    stdin.write('b\r');
    await delay();
    expect(onAnswer.mock.calls).toEqual([['approved']]);
  });

  it('does not approve a wrong chunk ending in Enter', async () => {
    const { stdin, onAnswer, lastFrame } = await mount();
    stdin.write('orders-dc\r');
    await delay();
    expect(onAnswer).not.toHaveBeenCalled();
    expect(lastFrame()).toContain('not approved');
  });

  it('ignores keys while inactive', async () => {
    const onAnswer = jest.fn();
    const { stdin } = render(<GatePanel request={request} isActive={false} onAnswer={onAnswer} width={80} />);
    await delay();
    stdin.write('n');
    stdin.write('\u001b');
    await delay(60);
    expect(onAnswer).not.toHaveBeenCalled();
  });

  it('shows as many actions as fit and scrolls the rest with the arrow keys', async () => {
    const actions = Array.from({ length: 10 }, (_, i) => ({ kind: 'note' as const, target: 'x', summary: `action ${i + 1}` }));
    const { lastFrame, stdin } = render(<GatePanel request={{ ...request, actions }} isActive onAnswer={() => undefined} width={80} maxActions={4} />);
    await delay();
    expect(lastFrame()).toMatch(/ 4\. \[x\] action 4/);
    expect(lastFrame()).not.toContain('action 5');
    expect(lastFrame()).toContain('actions 1-4 of 10');
    for (let i = 0; i < 8; i++) {
      stdin.write('\u001b[B');
      await delay(10);
    }
    await delay();
    expect(lastFrame()).toContain('actions 7-10 of 10');
    expect(lastFrame()).toMatch(/10\. \[x\] action 10/);
    expect(lastFrame()).not.toContain('action 6\n');
  });

  it('labels camelCase fact keys for people', () => {
    expect(factLabel('tablesDifferingBeforeFence')).toBe('tables differing before fence');
    expect(factLabel('latencySeconds')).toBe('latency (s)');
    expect(factLabel('source')).toBe('source');
    expect(factLabel('CDC latency (s)')).toBe('CDC latency (s)');
  });
});
