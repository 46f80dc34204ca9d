// GitHub Actions: workflow commands (annotations, with file/line/col for runbook problems) and the job summary
// ($GITHUB_STEP_SUMMARY, Markdown appended by every run).
import { appendFileSync } from 'node:fs';

export function isGithubActions(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.GITHUB_ACTIONS === 'true';
}

/** Escapes a workflow command's message. */
function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escapes a workflow command's property value (also `:` and `,`). */
function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

export interface AnnotationProps {
  title?: string;
  file?: string;
  line?: number;
  col?: number;
}

/** `::error file=…,line=…,col=…,title=…::message` */
export function annotation(kind: 'error' | 'warning' | 'notice', props: AnnotationProps, message: string): string {
  const parts: string[] = [];
  if (props.file !== undefined) parts.push(`file=${escapeProperty(props.file)}`);
  if (props.line !== undefined) parts.push(`line=${props.line}`);
  if (props.col !== undefined) parts.push(`col=${props.col}`);
  if (props.title !== undefined) parts.push(`title=${escapeProperty(props.title)}`);
  return `::${kind}${parts.length > 0 ? ` ${parts.join(',')}` : ''}::${escapeData(message)}`;
}

/** A runbook problem line (`file:line:col: message`) as an error annotation on that spot; undefined for other lines. */
export function problemAnnotation(problem: string): string | undefined {
  const m = /^(.+?):(\d+):(\d+): (.*)$/s.exec(problem);
  if (!m) return undefined;
  return annotation('error', { file: m[1]!, line: Number(m[2]), col: Number(m[3]), title: 'rekey: invalid runbook' }, m[4]!);
}

/** Appends Markdown to the job summary when GITHUB_STEP_SUMMARY names a file; a failure to write is returned, not thrown. */
export function appendStepSummary(markdown: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env.GITHUB_STEP_SUMMARY;
  if (file === undefined || file === '') return undefined;
  try {
    appendFileSync(file, markdown.endsWith('\n') ? markdown : `${markdown}\n`);
    return undefined;
  } catch (error) {
    return `could not append the summary to $GITHUB_STEP_SUMMARY (${file}): ${error instanceof Error ? error.message : String(error)}`;
  }
}
