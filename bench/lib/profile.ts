import fs from 'node:fs';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time of a `--cpu-prof` profile, by function and by source file (or package), the top `n` of each. */
export function summariseProfile(file: string, n: number): string {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const frames = new Map(p.nodes.map((node) => [node.id, node.callFrame]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const us = p.timeDeltas[i] ?? 0;
    const cf = frames.get(id)!;
    total += us;
    const where = cf.url.replace(/^.*node_modules\//, '').replace(/^.*?\/(src|bench|test)\//, '$1/');
    const fn = `${cf.functionName || '(anonymous)'} ${where}${where ? `:${cf.lineNumber + 1}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    // A package (scoped or not) or a source file; native and idle frames by name.
    const unit = cf.url ? (/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(cf.url)?.[1] ?? where) : cf.functionName;
    byFile.set(unit, (byFile.get(unit) ?? 0) + us);
  });
  const top = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `${(us / 1000).toFixed(0).padStart(8)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  return `total ${(total / 1000).toFixed(0)} ms sampled\n-- self time by function\n${top(byFunction)}\n-- self time by file or package\n${top(byFile)}`;
}
