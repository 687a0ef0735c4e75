/** The API objects the dashboard reads, as batchd's routes answer them (src/api/batch-jobs.ts, files.ts, models.ts, src/web/model-stats.ts). */

/** The job, file and model-load objects, one definition with the CLI's and the server's (src/api/objects.ts). */
export {
  answeredRequests,
  closedRequests,
  JOB_STATUSES,
  type FileObject,
  type JobObject as Job,
  type JobStatus,
  type ListOf,
  type ModelLoadObject as ModelLoad,
} from '../../src/api/objects';
import type { JobStatus } from '../../src/api/objects';

export const TERMINAL: JobStatus[] = ['SUCCESS', 'FAILED', 'TIMEOUT_EXCEEDED', 'CANCELLED'];

export interface ModelCard {
  id: string;
  name: string;
  aliases: string[];
  batchd?: { engine: string; endpoints: string[]; input_price_per_mtok: number; output_price_per_mtok: number };
}

/** GET /v1/models and GET /v1/dashboard/models: every entry at once, without a total. */
export interface List<T> {
  data: T[];
}
