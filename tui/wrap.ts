// Word wrapping the TUI does itself where it must know the height before rendering (the gate fits its budget):
// breaks at spaces, and breaks a word longer than the line (an ARN) into whole-width pieces rather than cutting it.

/** `text` as lines of at most `width` cells (plain text; `width` >= 1). An empty text is one empty line. */
export function wrapText(text: string, width: number): string[] {
  const w = Math.max(1, Math.floor(width));
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      let rest = word;
      if (line !== '' && line.length + 1 + rest.length <= w) {
        line += ` ${rest}`;
        continue;
      }
      if (line !== '') lines.push(line);
      while (rest.length > w) {
        lines.push(rest.slice(0, w));
        rest = rest.slice(w);
      }
      line = rest;
    }
    lines.push(line);
  }
  return lines;
}
