// Both reports of a run, side by side in its directory: report.md and the self-contained report.html.
import { join } from 'node:path';
import { writeHtmlReport } from './html.js';
import type { MetricHistories } from './html.js';
import { writeReport } from './markdown.js';
import type { ReportInput } from './input.js';

export function writeRunReports(runDir: string, input: ReportInput, metrics?: MetricHistories): { report: string; reportHtml: string } {
  const report = join(runDir, 'report.md');
  const reportHtml = join(runDir, 'report.html');
  writeReport(report, input);
  writeHtmlReport(reportHtml, input, metrics);
  return { report, reportHtml };
}
