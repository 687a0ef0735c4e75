import type { Migration, MigrationProvider } from 'kysely';
import * as m001 from './001-initial.js';
import * as m002 from './002-results.js';
import * as m003 from './003-blobs.js';
import * as m004 from './004-idempotency.js';
import * as m005 from './005-chunk-progress.js';
import * as m006 from './006-released-blobs.js';
import * as m007 from './007-chunk-claim-index.js';
import * as m008 from './008-storage-quota.js';
import * as m009 from './009-job-status-check.js';
import * as m010 from './010-job-dialect.js';
import * as m011 from './011-job-scheduling.js';
import * as m012 from './012-webhook-outbox.js';
import * as m013 from './013-job-validation-errors.js';
import * as m014 from './014-job-api-endpoint.js';

/** Numbered migrations, applied in order by Kysely's Migrator on either store. */
const migrations: Record<string, Migration> = {
  '001-initial': m001,
  '002-results': m002,
  '003-blobs': m003,
  '004-idempotency': m004,
  '005-chunk-progress': m005,
  '006-released-blobs': m006,
  '007-chunk-claim-index': m007,
  '008-storage-quota': m008,
  '009-job-status-check': m009,
  '010-job-dialect': m010,
  '011-job-scheduling': m011,
  '012-webhook-outbox': m012,
  '013-job-validation-errors': m013,
  '014-job-api-endpoint': m014,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
