// Byte counts for people: `512 B`, `48.0 MB` (binary multiples, as PostgreSQL's pg_size_pretty). A leaf: steps put it in
// progress messages, src/present in status lines.

export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
