// A narrowing resize mid-run: the terminal re-wraps Ink's last frame, so the screen is cleared once and the frame
// drawn whole after it (no fragments of old lines); widening clears nothing; the scrollback is never wiped. The
// real terminal case (tmux at 80 then 64 columns) is in test/integration/tui-pty-small.test.ts.
import '../helpers/not-ci.js';
import { afterEach, describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'node:events';
import { Box, render, Text } from 'ink';
import { CLEAR_VISIBLE, clearOnNarrowing } from '../../tui/resize.js';
import { useTerminalSize } from '../../tui/use-terminal-size.js';

const delay = (ms = 80): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A terminal as Ink sees one: a TTY stream with a size, recording what is written. */
class FakeTerminal extends EventEmitter {
  isTTY = true;
  columns = 100;
  rows = 30;
  written: string[] = [];
  write(text: string): boolean {
    this.written.push(text);
    return true;
  }
  resize(columns: number): void {
    this.columns = columns;
    this.emit('resize');
  }
  since(mark: number): string {
    return this.written.slice(mark).join('');
  }
}

class FakeInput extends EventEmitter {
  isTTY = true;
  setRawMode(): void {}
  setEncoding(): void {}
  read(): null {
    return null;
  }
  resume(): void {}
  pause(): void {}
  ref(): void {}
  unref(): void {}
}

/** Like the App: its width follows the terminal (useTerminalSize), so a resize renders a new frame. */
function Screen() {
  const { columns } = useTerminalSize();
  return (
    <Box flexDirection="column" width={columns - 1} borderStyle="double">
      <Text>Gate “cutover”: Fence writes on the source and cut over to the new cluster? A long line that wraps.</Text>
      <Text>To approve, type orders-db and press Enter.</Text>
    </Box>
  );
}

let unmount: (() => void) | undefined;
afterEach(() => unmount?.());

function mount(withClearing: boolean): FakeTerminal {
  const term = new FakeTerminal();
  const instance = render(<Screen />, { stdout: term as unknown as NodeJS.WriteStream, stdin: new FakeInput() as unknown as NodeJS.ReadStream, exitOnCtrlC: false, patchConsole: false });
  const stop = withClearing ? clearOnNarrowing(term) : () => undefined;
  unmount = () => {
    stop();
    instance.unmount();
  };
  return term;
}

describe('resizing the terminal', () => {
  it('narrower: the visible screen is cleared once, then the frame is drawn whole at the new width', async () => {
    const term = mount(true);
    await delay();
    const mark = term.written.length;
    term.resize(60);
    await delay();
    const after = term.since(mark);
    expect(after.split(CLEAR_VISIBLE).length - 1).toBe(1);
    // Ink repaints the old-width frame first (the terminal wraps it); the clear follows, and the frame after it is whole.
    const redrawn = after.slice(after.indexOf(CLEAR_VISIBLE) + CLEAR_VISIBLE.length);
    expect(redrawn).toContain('Gate “cutover”');
    expect(redrawn).toContain('To approve, type orders-db and press Enter.');
    expect(/╔═+╗/.exec(redrawn)?.[0].length).toBe(59);
    // ED 3 would wipe the scrollback (the finished steps, the user's own history).
    expect(after).not.toContain('\u001b[3J');
  });

  it('wider or the same width: nothing cleared', async () => {
    const term = mount(true);
    await delay();
    const mark = term.written.length;
    term.resize(120);
    await delay();
    term.resize(120);
    await delay();
    expect(term.since(mark)).not.toContain(CLEAR_VISIBLE);
  });

  it('without it Ink erases only as many rows as it drew, which a re-wrapped frame outgrew', async () => {
    const term = mount(false);
    await delay();
    const mark = term.written.length;
    term.resize(60);
    await delay();
    expect(term.since(mark)).not.toContain('\u001b[2J');
  });

  it('is off when the stream is not a terminal', () => {
    const term = new FakeTerminal();
    term.isTTY = false;
    const stop = clearOnNarrowing(term);
    term.resize(10);
    stop();
    expect(term.written).toEqual([]);
  });
});
