// A narrower terminal re-wraps the lines Ink drew last, so the old frame takes more rows than Ink erases before the
// next one: the rest stays on screen as fragments of old lines. On a narrowing resize the visible screen is cleared
// once, before the App's frame at the new width is drawn; the scrollback is left alone. A wider or taller terminal
// re-wraps nothing (every line is shorter than the terminal), so Ink's own redraw is clean.

/** Erase the visible screen (ED 2) and put the cursor home; not ED 3, which would wipe the scrollback. */
export const CLEAR_VISIBLE = '\u001b[2J\u001b[H';

/** The part of a terminal stream this needs. */
export interface ResizableStream {
  columns?: number;
  isTTY?: boolean;
  write(text: string): boolean;
  prependListener(event: 'resize', listener: () => void): unknown;
  off(event: 'resize', listener: () => void): unknown;
}

/**
 * Clears the visible screen on every resize that makes `stream` narrower, after Ink's stale repaint and before the
 * App's re-render (prepended, so its task is queued ahead of React's). Returns the unsubscribe.
 */
export function clearOnNarrowing(stream: ResizableStream): () => void {
  if (stream.isTTY !== true) return () => undefined;
  let last = stream.columns ?? 0;
  const onResize = (): void => {
    const now = stream.columns ?? 0;
    // Ink's own handler (next in line) paints the frame once more at the old width, which the terminal wraps; the
    // App's new-width frame is rendered in a later task (React schedules it with setImmediate, queued after this
    // one). Clearing in between leaves only the new frame on screen.
    if (now > 0 && now < last) setImmediate(() => stream.write(CLEAR_VISIBLE));
    last = now;
  };
  stream.prependListener('resize', onResize);
  return () => {
    stream.off('resize', onResize);
  };
}
