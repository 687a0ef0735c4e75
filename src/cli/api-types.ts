/** The API objects the CLI reads: one definition with the dashboard's (api/objects.ts). */
export type { FileObject, JobObject, ListOf } from '../api/objects.js';
