// Colours must follow the theme: on by default, all off with NO_COLOR. chalk picks its level when first
// imported, so colours are forced on before ink loads (this file only) to see the difference.
import { describe, expect, it } from '@jest/globals';

process.env.FORCE_COLOR = '1';
const { render } = await import('ink-testing-library');
const { LatencyPanel } = await import('../../tui/LatencyPanel.js');
const { ThemeContext, colorFromEnv } = await import('../../tui/use-theme.js');

const SGR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const COLOUR = new RegExp(`${String.fromCharCode(27)}\\[(3[0-7]|9[0-7])m`);

describe('colours', () => {
  const now = 1_000_000;
  const series = (v: number) => Array.from({ length: 30 }, (_, i) => ({ at: now - 290_000 + i * 10_000, value: v }));
  const frame = (color: boolean): string =>
    render(
      <ThemeContext.Provider value={{ color }}>
        <LatencyPanel source={series(1)} target={series(2)} threshold={10} sustained={5} sustainRequired={60} now={now} width={80} />
      </ThemeContext.Provider>,
    ).lastFrame()!;

  it('colours the series and threshold by default and none of them when turned off, with the same text', () => {
    const withColor = frame(true);
    const without = frame(false);
    expect(withColor).toMatch(COLOUR);
    expect(without).not.toMatch(COLOUR);
    expect(without.replace(SGR, '')).toBe(withColor.replace(SGR, ''));
  });

  it('reads NO_COLOR as https://no-color.org says: any non-empty value', () => {
    expect(colorFromEnv({})).toBe(true);
    expect(colorFromEnv({ NO_COLOR: '' })).toBe(true);
    expect(colorFromEnv({ NO_COLOR: '1' })).toBe(false);
  });
});
