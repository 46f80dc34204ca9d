// Colours are chosen by name through one context, so NO_COLOR (https://no-color.org) turns them all off at once.
// Ink's chalk does not read NO_COLOR itself; bold, dim and inverse stay, they are not colours.
import { createContext, useContext } from 'react';

/** How the TUI may style text. */
export interface Theme {
  /** Whether colours may be used. */
  color: boolean;
}

export const ThemeContext = createContext<Theme>({ color: true });

/** Colours are on unless NO_COLOR is set to a non-empty value. */
export function colorFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.NO_COLOR === undefined || env.NO_COLOR === '';
}

/** `tone('green')` is `'green'` with colours on and undefined with them off. */
export function useTone(): (color: string) => string | undefined {
  const { color } = useContext(ThemeContext);
  return (c) => (color ? c : undefined);
}
