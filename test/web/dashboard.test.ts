import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startTestServer, upstreamModels, uploadJsonl, chatLines, jsonl, waitForJob, type TestServer } from '../helpers/server.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { CHROMIUM, CHROMIUM_ARGS, SHOTS_DIR, ensureChromium, ensureDashboardBuilt } from './dashboard-setup.js';
import { closedRequests } from '../../src/api/objects.js';

// Globals of the page: the callbacks given to page.evaluate/waitForFunction run in Chromium, not in Node
// (the root tsconfig has no DOM library, on purpose: the server code must not use browser APIs).
declare const document: any;
declare const sessionStorage: any;
declare const DataTransfer: any;
declare const getComputedStyle: any;

const LONG = 60_000;
let server: TestServer;
let up: FakeUpstream;
let browser: BrowserContext;
let page: Page;
let profile: string;
let work: string;

before(async () => {
  ensureChromium();
  ensureDashboardBuilt();
  fs.mkdirSync(SHOTS_DIR, { recursive: true });
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-web-'));
  profile = path.join(work, 'profile');
  // Slow enough that progress is seen moving and a job can be cancelled while it runs.
  up = await startFakeUpstream({ latencyMs: 120, maxConcurrent: 4 });
  server = await startTestServer({ models: upstreamModels(up.url, { max_in_flight: 2 }), env: { BATCHD_CHUNK_LINES: '4' } });
  // A fresh profile: no session storage, cache or download history from an earlier run.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1360, height: 860 },
    colorScheme: 'light',
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(LONG);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await up?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const shot = (name: string, fullPage = true) => page.screenshot({ path: path.join(SHOTS_DIR, `${name}.png`), fullPage });
const jobIdInUrl = () => decodeURIComponent(new URL(page.url()).hash.replace('#/jobs/', ''));

async function signIn(key: string) {
  await page.goto(server.url);
  await page.getByLabel('API key', { exact: true }).fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Uploads through the Files page's drop zone (a real drop event with a DataTransfer) and waits for the stored file. */
async function dropFile(name: string, lines: unknown[]) {
  await page.getByRole('link', { name: 'Files', exact: true }).click();
  const text = lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
  const transfer = await page.evaluateHandle(
    ({ name, text }) => {
      const dt = new DataTransfer();
      dt.items.add(new File([text], name, { type: 'application/jsonl' }));
      return dt;
    },
    { name, text },
  );
  await page.locator('.dropzone').dispatchEvent('drop', { dataTransfer: transfer });
  await page.getByText(`Uploaded ${name}`).waitFor();
  assert.equal(await page.locator('#upload-progress').getAttribute('value'), await page.locator('#upload-progress').getAttribute('max'));
}

/** From the upload's "Create a job from it" link, through the create form, to the new job's page. */
async function createJobFromUpload(metadata = '') {
  await page.getByRole('link', { name: 'Create a job from it' }).click();
  await page.getByLabel('Model').selectOption('up-openai');
  await page.getByLabel('Endpoint').selectOption('/v1/chat/completions');
  if (metadata) await page.getByLabel(/Metadata/).fill(metadata);
  await page.getByRole('button', { name: 'Create job' }).click();
  await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
  const id = jobIdInUrl();
  // The job is for what was picked (a pick made as the form's lists arrived was once overwritten by their first entry).
  const created = await server.request('GET', `/v1/batch/jobs/${id}`);
  assert.deepEqual([created.body.model, created.body.endpoint], ['up-openai', '/v1/chat/completions']);
  return id;
}

const jobProgress = () => page.getByRole('progressbar', { name: 'Job progress' });

test('a wrong key gets a clear error and shows nothing of any workspace', { timeout: LONG }, async () => {
  await uploadJsonl(server, chatLines(2), 'b', 'secret-of-b.jsonl');
  await signIn('not-a-key');
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /not accepted \(401/);
  assert.equal(await page.getByRole('table').count(), 0);
  assert.equal(await page.getByRole('navigation').count(), 0);
  assert.doesNotMatch(await page.content(), /secret-of-b/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('batchd.apiKey')), null, 'a refused key is not kept');
  await shot('wrong-key');
});

test('sign in, drop a file, create a job, watch it reach 100% live, download the output', { timeout: 120_000 }, async () => {
  await signIn(server.keys.a);
  await page.getByRole('heading', { name: 'Jobs' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('batchd.apiKey')), server.keys.a);
  // Workspace b's upload is not among a's files.
  await page.getByRole('link', { name: 'Files', exact: true }).click();
  await page.getByRole('heading', { name: 'Files' }).waitFor();
  await dropFile('greetings.jsonl', chatLines(40, 'g'));
  assert.equal(await page.getByText('secret-of-b.jsonl').count(), 0);
  await shot('files');
  // The Files page downloads what was uploaded, byte for byte.
  const [input] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download greetings.jsonl' }).click()]);
  const inputCopy = path.join(work, 'greetings.jsonl');
  await input.saveAs(inputCopy);
  assert.equal(
    fs.readFileSync(inputCopy, 'utf8'),
    chatLines(40, 'g')
      .map((l) => JSON.stringify(l))
      .join('\n') + '\n',
  );

  const id = await createJobFromUpload('team=docs\nrun=1');
  await jobProgress().waitFor();
  // Seen running part-way through (the events stream updates the page), then at 100%.
  await page.waitForFunction(() => {
    const v = Number(document.querySelector('[aria-label="Job progress"]')?.getAttribute('aria-valuenow'));
    return v > 0 && v < 100;
  });
  await page.waitForFunction(() => document.querySelector('[aria-label="Job progress"]')?.getAttribute('aria-valuenow') === '100');
  await page.getByText('SUCCESS', { exact: true }).waitFor();
  await page.locator('.chart canvas').waitFor();
  await page
    .getByText(/no price|\$\d/)
    .first()
    .waitFor();
  await shot('job-finished');

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download output' }).click()]);
  const saved = path.join(work, 'output.jsonl');
  await download.saveAs(saved);
  const lines = jsonl(fs.readFileSync(saved, 'utf8'));
  assert.equal(lines.length, 40);
  assert.deepEqual(
    lines.map((l) => l.custom_id),
    Array.from({ length: 40 }, (_, i) => `g${i}`),
  );
  assert.ok(lines.every((l) => l.response.status_code === 200));
  const job = await waitForJob(server, id);
  assert.equal(job.succeeded_requests, 40);
});

test('cancel a running job from its page', { timeout: 120_000 }, async () => {
  await dropFile('long.jsonl', chatLines(400, 'l'));
  const id = await createJobFromUpload();
  await page.waitForFunction(() => Number(document.querySelector('[aria-label="Job progress"]')?.getAttribute('aria-valuenow')) > 0);
  // Running: a throughput chart (a few seconds of it) and an ETA.
  await page.locator('.chart canvas').waitFor();
  await page.waitForFunction(() => Number(document.querySelector('[aria-label="Job progress"]')?.getAttribute('aria-valuenow')) >= 5);
  await page.waitForFunction(() => /\d+ (s|min)/.test(document.querySelector('.stats')?.textContent ?? ''));
  await shot('job-running');
  await page.getByRole('button', { name: 'Cancel job' }).click();
  await page.getByText('CANCELLED', { exact: true }).waitFor();
  const job = await waitForJob(server, id);
  assert.equal(job.status, 'CANCELLED');
  assert.ok(job.succeeded_requests < 400);
  assert.equal(await page.getByRole('button', { name: 'Cancel job' }).count(), 0);
  // The cancel closed the lines not yet run, all at once: the page tells them apart from answered lines,
  // and the chart counts answered lines only. Two lines at a time taking 120 ms each answer at most
  // ~17 lines/s; the closed lines (hundreds at one instant) would read as 70 lines/s or more.
  const closed = closedRequests(job);
  assert.ok(closed > 0);
  await page.getByText(`${closed} (cancelled)`, { exact: true }).waitFor();
  const label = (await page.locator('.chart').getAttribute('aria-label')) ?? '';
  const last = Number(/now ([\d.]+) lines\/s/.exec(label)?.[1]);
  assert.ok(last < 30, `the chart's last rate: ${label}`);
  await shot('job-cancelled');
});

test('failed lines are grouped by error code with samples, and retried as a new job', { timeout: 120_000 }, async () => {
  // Three lines fail once with a final (non-retryable) 400; their retry succeeds.
  up.setBehaviour({ latencyMs: 60, rules: [{ marker: 'BOOM', fault: { kind: 'status', status: 400, body: { error: { message: 'bad prompt' } } }, times: 3 }] });
  const lines = chatLines(12, 'm', (i) => (i % 4 === 1 ? `BOOM ${i}` : `hello ${i}`));
  await dropFile('mixed.jsonl', lines);
  const id = await createJobFromUpload();
  await page.getByRole('heading', { name: 'Failed lines (3)' }).waitFor();
  const errors = page.locator('.errors-table');
  await errors.waitFor();
  const text = await errors.innerText();
  assert.match(text, /400/);
  for (const cid of ['m1', 'm5', 'm9']) assert.match(text, new RegExp(`\\b${cid}\\b`));
  await shot('job-failed-lines');

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download errors' }).click()]);
  const saved = path.join(work, 'errors.jsonl');
  await download.saveAs(saved);
  assert.deepEqual(
    jsonl(fs.readFileSync(saved, 'utf8')).map((l) => l.custom_id),
    ['m1', 'm5', 'm9'],
  );

  await page.getByRole('button', { name: 'Retry failed lines (3)' }).click();
  await page.waitForURL((u) => /#\/jobs\/[0-9a-f-]{36}$/.test(u.hash) && !u.hash.endsWith(id));
  const retryId = jobIdInUrl();
  await page.waitForFunction(() => document.querySelector('[aria-label="Job progress"]')?.getAttribute('aria-valuenow') === '100');
  const retry = await waitForJob(server, retryId);
  assert.equal(retry.total_requests, 3);
  assert.equal(retry.succeeded_requests, 3);
});

test('the jobs list shows every job live, filters by status and model, and opens a job by keyboard', { timeout: LONG }, async () => {
  // A job of workspace b never shows in a's list.
  const bFile = await uploadJsonl(server, chatLines(1), 'b');
  const bJob = await server.request('POST', '/v1/batch/jobs', { input_files: [bFile.id], model: 'up-openai', endpoint: '/v1/chat/completions' }, 'b');
  await page.getByRole('link', { name: 'Jobs', exact: true }).click();
  const rows = page.locator('tbody tr');
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 4);
  assert.equal(await page.locator(`[data-job-id="${bJob.body.id}"]`).count(), 0);
  const first = await rows.first().innerText();
  assert.match(first, /up-openai/);
  assert.match(first, /\/v1\/chat\/completions/);
  await shot('jobs');

  // A job created elsewhere appears without a reload.
  const file = await uploadJsonl(server, chatLines(2), 'a', 'api.jsonl');
  const viaApi = await server.request('POST', '/v1/batch/jobs', {
    input_files: [file.id],
    model: 'up-openai',
    endpoint: '/v1/chat/completions',
    metadata: { via: 'api' },
  });
  await page.locator(`[data-job-id="${viaApi.body.id}"]`).waitFor();
  assert.match(await page.locator(`[data-job-id="${viaApi.body.id}"]`).innerText(), new RegExp(viaApi.body.id.slice(0, 8)));

  await page.getByLabel('Status').selectOption('CANCELLED');
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 1);
  assert.match(await rows.first().innerText(), /CANCELLED/);
  await page.getByLabel('Model').selectOption('up-mistral');
  await page.getByText('No jobs match these filters').waitFor();
  await page.getByLabel('Model').selectOption('');
  await page.getByLabel('Status').selectOption('');
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 5);

  // Keyboard only: focus the newest job's link and press Enter.
  await page.locator('tbody tr').first().getByRole('link').focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(new RegExp(`#/jobs/${viaApi.body.id}$`));
  await jobProgress().waitFor();
});

test('the models page shows engine, backend, lines leased and throughput; dark scheme is readable', { timeout: LONG }, async () => {
  // A job running while the page is open: its lines show as leased and its throughput above zero.
  up.setBehaviour({ latencyMs: 150 });
  const file = await uploadJsonl(server, chatLines(200, 'x'), 'a', 'busy.jsonl');
  const busy = await server.request('POST', '/v1/batch/jobs', { input_files: [file.id], model: 'up-openai', endpoint: '/v1/chat/completions' });
  await page.getByRole('link', { name: 'Models', exact: true }).click();
  const row = page.locator('[data-model="up-openai"]');
  await row.waitFor();
  const text = await row.innerText();
  assert.match(text, /openai/);
  assert.match(text, /OpenAI-compatible · http:\/\/127\.0\.0\.1:\d+ \(served\)/);
  // Columns: model, engine, backend, max in flight, lines leased, waiting, running jobs, throughput.
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll('[data-model="up-openai"] > *')].map((c) => c.textContent ?? '');
    return Number(cells[4]) > 0 && Number(cells[6]) === 1 && /^[1-9][\d.]* lines\/s$/.test(cells[7] ?? '');
  });
  assert.equal(await page.locator('tbody tr').first().getAttribute('data-model'), 'up-openai', 'the model in use comes first');
  await shot('models', false);
  await server.request('POST', `/v1/batch/jobs/${busy.body.id}/cancel`);

  await page.emulateMedia({ colorScheme: 'dark' });
  await page.getByRole('link', { name: 'Jobs', exact: true }).click();
  await page.locator('tbody tr').first().waitFor();
  const colours = await page.evaluate(() => {
    const s = getComputedStyle(document.body.parentElement!);
    return { bg: s.backgroundColor, fg: s.color };
  });
  assert.deepEqual(colours, { bg: 'rgb(15, 19, 24)', fg: 'rgb(230, 233, 237)' });
  await shot('jobs-dark');
  await page.locator('tbody tr').nth(1).getByRole('link').click();
  await page.locator('.chart canvas, .card p.muted').first().waitFor();
  await shot('job-dark');
  await page.emulateMedia({ colorScheme: 'light' });
});

test('the server answers / with a hint to build when the dashboard is not built, and assets are only its own files', { timeout: LONG }, async () => {
  const res = await fetch(`${server.url}/assets/..%2Fpackage.json`);
  assert.equal(res.status, 404);
  await res.body?.cancel();
  const index = await fetch(`${server.url}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  const html = await index.text();
  const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  assert.ok(asset, html);
  const js = await fetch(`${server.url}${asset}`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type') ?? '', /javascript/);
  await js.body?.cancel();
});
