import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Mistral } from '@mistralai/mistralai';
import { loadConfig } from '../config.js';
import { startServer } from '../server.js';
import { defaultEngineFactories } from '../engines/factories.js';

/**
 * The end-to-end example of Mistral's batch docs, run against a batchd started here
 * on the embedded default model: random prompts → upload → job → poll → download.
 */
export async function runDemo(opts: { requests: number; dataDir?: string; model: string; out: string }) {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-demo-'));
  const config = loadConfig({ dataDir, port: 0 }, { ...process.env, BATCHD_API_KEYS: 'demo:demo-key' });
  const server = await startServer(config, { engineFactories: defaultEngineFactories(config), log: (l) => console.log(l) });
  try {
    const client = new Mistral({ apiKey: 'demo-key', serverURL: server.url });
    const inputPath = path.join(dataDir, 'demo-input.jsonl');
    writeRandomRequests(inputPath, opts.requests);
    const uploaded = await client.files.upload({
      file: { fileName: 'demo-input.jsonl', content: await fs.openAsBlob(inputPath) },
      purpose: 'batch',
    });
    console.log(`uploaded ${uploaded.filename}: ${uploaded.numLines} requests, ${uploaded.sizeBytes} bytes`);
    const started = Date.now();
    let job = await client.batch.jobs.create({
      inputFiles: [uploaded.id],
      model: opts.model,
      endpoint: '/v1/chat/completions',
      metadata: { job_type: 'demo' },
    });
    console.log(`created job ${job.id} (${job.status})`);
    while (job.status === 'QUEUED' || job.status === 'RUNNING') {
      await new Promise((r) => setTimeout(r, 1000));
      job = await client.batch.jobs.get({ jobId: job.id });
      const done = job.succeededRequests + job.failedRequests;
      const pct = job.totalRequests ? Math.round((done / job.totalRequests) * 100) : 0;
      console.log(`status ${job.status}  total ${job.totalRequests}  succeeded ${job.succeededRequests}  failed ${job.failedRequests}  ${pct}%`);
    }
    console.log(`job ${job.status} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    fs.mkdirSync(opts.out, { recursive: true });
    if (!job.errorFile) console.log('no error file: no request failed');
    for (const [label, fileId] of [['output', job.outputFile], ['errors', job.errorFile]] as const) {
      if (!fileId) continue;
      const stream = await client.files.download({ fileId });
      const target = path.join(opts.out, `${job.id}-${label}.jsonl`);
      await fs.promises.writeFile(target, stream as unknown as AsyncIterable<Uint8Array>);
      console.log(`downloaded ${label} to ${target}`);
    }
    if (job.status !== 'SUCCESS') throw new Error(`the demo job ended ${job.status}`);
  } finally {
    await server.close();
  }
}

const WORDS = 'the a batch of requests runs on llama cpp in process and writes results to files while clients poll for progress'.split(' ');

/** Mistral's example: prompts of 100–5000 characters, max_tokens 10–1000; streamed to disk. */
function writeRandomRequests(file: string, n: number) {
  const rand = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
  const fd = fs.openSync(file, 'w');
  try {
    for (let i = 0; i < n; i++) {
      const target = rand(100, 5000);
      let prompt = '';
      while (prompt.length < target) prompt += `${WORDS[rand(0, WORDS.length - 1)]} `;
      const line = { custom_id: String(i), body: { max_tokens: rand(10, 1000), messages: [{ role: 'user', content: prompt.slice(0, target) }] } };
      fs.writeSync(fd, `${JSON.stringify(line)}\n`);
    }
  } finally {
    fs.closeSync(fd);
  }
}
