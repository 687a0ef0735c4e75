import fs from 'node:fs';
import { uploadFile } from '../../test/helpers/multipart-upload.js';

export interface JobTiming {
  ms: number;
  job: Record<string, unknown>;
}

/** Writes an n-line chat batch file (one short message a line). */
export function writeChatFile(file: string, n: number) {
  const fd = fs.openSync(file, 'w');
  let buf = '';
  for (let i = 0; i < n; i++) {
    buf += `${JSON.stringify({ custom_id: `r${i}`, body: { max_tokens: 16, messages: [{ role: 'user', content: `request number ${i}` }] } })}\n`;
    if (buf.length > 1 << 20) {
      fs.writeSync(fd, buf);
      buf = '';
    }
  }
  fs.writeSync(fd, buf);
  fs.closeSync(fd);
}

/** Uploads a file, runs a job on `model`, and times creation → terminal status. */
export async function runJob(url: string, key: string, file: string, model: string, pollMs = 50): Promise<JobTiming> {
  const up = await uploadFile(url, key, file);
  if (up.status !== 200) throw new Error(`upload failed: ${JSON.stringify(up.body)}`);
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const start = performance.now();
  const created = await fetch(`${url}/v1/batch/jobs`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ input_files: [up.body.id], model, endpoint: '/v1/chat/completions' }),
  });
  let job = (await created.json()) as Record<string, unknown>;
  if (created.status !== 200) throw new Error(`create failed: ${JSON.stringify(job)}`);
  while (job.status === 'QUEUED' || job.status === 'RUNNING') {
    await new Promise((r) => setTimeout(r, pollMs));
    job = (await (await fetch(`${url}/v1/batch/jobs/${job.id}`, { headers })).json()) as Record<string, unknown>;
  }
  return { ms: performance.now() - start, job };
}
