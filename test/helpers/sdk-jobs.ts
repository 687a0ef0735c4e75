import assert from 'node:assert/strict';
import type { Mistral } from '@mistralai/mistralai';
import { waitForJob, type TestServer } from './server.js';

/**
 * A job of two lines with the same body, created through the official SDK (inline requests)
 * and waited for: both lines must succeed. Returns the finished job (GET /v1/batch/jobs/{id})
 * for the caller's own checks of its outputs.
 */
export async function runTwoLineJob(client: Mistral, server: TestServer, model: string, endpoint: string, body: Record<string, unknown>) {
  const job = await client.batch.jobs.create({
    model,
    endpoint: endpoint as '/v1/chat/completions',
    requests: [
      { customId: '1', body },
      { customId: '2', body },
    ],
  });
  const done = await waitForJob(server, job.id);
  assert.equal(done.status, 'SUCCESS');
  assert.equal(done.succeeded_requests, 2);
  return done;
}
