/** The fields of Mistral's BatchJob and File objects the CLI reads (the server sends more). */
export interface JobObject {
  id: string;
  object: 'batch';
  input_files: string[];
  metadata: Record<string, string> | null;
  endpoint: string;
  model: string | null;
  agent_id: string | null;
  output_file: string | null;
  error_file: string | null;
  errors: { message: string; count?: number }[];
  status: string;
  created_at: number;
  total_requests: number;
  completed_requests: number;
  succeeded_requests: number;
  failed_requests: number;
  started_at: number | null;
  completed_at: number | null;
  timeout_hours?: number;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number; cost_usd: number | null };
}

export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  sample_type: string;
  source: string;
  num_lines: number | null;
  mimetype: string | null;
  expires_at: number | null;
}

export interface ListOf<T> {
  data: T[];
  object: 'list';
  total: number;
}
