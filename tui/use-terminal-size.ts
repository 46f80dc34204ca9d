// The terminal size, kept current on resize so panels re-flow.
import { useStdout } from 'ink';
import { useEffect, useState } from 'react';

/** Columns and rows of the output terminal. */
export interface TerminalSize {
  /** Width in cells (80 when unknown). */
  columns: number;
  /** Height in lines (40 when unknown). */
  rows: number;
}

function sizeOf(stdout: NodeJS.WriteStream): TerminalSize {
  return {
    columns: typeof stdout.columns === 'number' && stdout.columns > 0 ? stdout.columns : 80,
    rows: typeof stdout.rows === 'number' && stdout.rows > 0 ? stdout.rows : 40,
  };
}

export function useTerminalSize(): TerminalSize {
  const { stdout } = useStdout();
  const [size, setSize] = useState(() => sizeOf(stdout));
  useEffect(() => {
    const onResize = (): void => setSize(sizeOf(stdout));
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);
  return size;
}
