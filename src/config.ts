import os from 'node:os';
import path from 'node:path';
import { parseGpuSetting, type GpuSetting } from './engines/llama/backend.js';

/** Everything batchd reads from flags and the environment, read once at start and passed down. */
export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** A directory for file bytes shared by every node; null = the data dir (SQLite) or the database (PostgreSQL). */
  blobDir: string | null;
  /** `sqlite:` path or `postgres://` URL. */
  databaseUrl: string;
  /** PostgreSQL connections this process may open (plus one for LISTEN). */
  pgPoolSize: number;
  /** Model registry file (JSON or YAML), optional. */
  configPath: string | null;
  /** Keys seeded at start: workspace → key. */
  seedKeys: { workspace: string; key: string }[];
  /** Extra embedded models from `--model name=path.gguf`. */
  modelFiles: { id: string; path: string }[];
  maxFileBytes: number;
  maxLineBytes: number;
  maxInlineRequests: number;
  maxPendingRequests: number;
  /** How long one upstream call may take before it counts as a (retryable) timeout. */
  upstreamTimeoutMs: number;
  /** Upstream HTTP calls on their own thread (engines/http/io-thread.ts) rather than the main one. */
  upstreamIoThread: boolean;
  /** Worker threads validating uploads off the event loop (0 = on the main thread). */
  validationThreads: number;
  /** Lines per work chunk: the unit a worker claims. */
  chunkLines: number;
  /** Whether this process runs the job runner (false for `serve --no-worker`). */
  worker: boolean;
  /** Base URL used to build signed download URLs; defaults to the listening address. */
  publicUrl: string | null;
  logLevel: string;
  /** `batchd worker` only: serve GET /metrics on this port (BATCHD_METRICS_PORT; 0 = any free port); null = no listener. */
  metricsPort: number | null;
  /**
   * The embedded engine: threads per context, parallel sequences, tokens per sequence, and
   * shared-prefix reuse (a request takes the sequence already holding the longest start of its prompt).
   */
  llama: {
    threads: number;
    sequences: number;
    contextSize: number;
    prefixReuse: boolean;
    /** No BATCHD_LLAMA_CONTEXT: each model runs at its trained context, capped by memoryBytes for all sequences. */
    contextFromModel: boolean;
    /** BATCHD_LLAMA_MEMORY_MB: bytes the KV caches of a model's sequences may take together (default a quarter of RAM). */
    memoryBytes: number;
    /** BATCHD_LLAMA_GPU: off, auto (the best backend found), cuda, vulkan or metal. */
    gpu: GpuSetting;
  };
  /** Bounds on what one client or tenant may take (README "Limits and hardening"). */
  limits: Limits;
  /**
   * Share of an upstream model's max_in_flight kept for online calls (BATCHD_ONLINE_RESERVE,
   * 0-0.9, default 0.25): batch lines never take those slots (engines/batch-share.ts).
   */
  onlineReserve: number;
  /** Delivery of terminal-state webhooks (webhooks/dispatcher.ts). */
  webhooks: {
    /** How often the deliverer looks for due events (BATCHD_WEBHOOK_POLL_MS). */
    pollMs: number;
    /** First retry delay; doubled per attempt up to retryMaxMs (BATCHD_WEBHOOK_RETRY_BASE_MS, BATCHD_WEBHOOK_RETRY_MAX_MS). */
    retryBaseMs: number;
    retryMaxMs: number;
    /** An event held this long by a deliverer that went away is sent again (BATCHD_WEBHOOK_LEASE_MS). */
    leaseMs: number;
    /** Time for one POST, connection to response (BATCHD_WEBHOOK_TIMEOUT_MS). */
    timeoutMs: number;
  };
  runner: {
    leaseMs: number;
    pollMs: number;
    tickMs: number;
    maxChunks: number;
    retry: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
  };
}

/**
 * Every bound on clients and tenants, with its variable. Each is documented in the
 * README's "Limits and hardening" table; 0 turns a cap off where the comment says so.
 */
export interface Limits {
  /** Open connections at once (BATCHD_MAX_CONNECTIONS); beyond it new sockets are closed at once. */
  maxConnections: number;
  /** Time for a request's headers (BATCHD_HEADERS_TIMEOUT_MS). */
  headersTimeoutMs: number;
  /** Time for a whole request but uploads (BATCHD_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this (BATCHD_KEEP_ALIVE_TIMEOUT_MS). */
  keepAliveTimeoutMs: number;
  /** Uploads slower than this, averaged over BATCHD_UPLOAD_RATE_WINDOW_MS, are cut (BATCHD_MIN_UPLOAD_BYTES_PER_SEC). */
  minUploadBytesPerSec: number;
  uploadRateWindowMs: number;
  /** JSON body of the online inference routes (BATCHD_MAX_ONLINE_BODY_BYTES). */
  maxOnlineBodyBytes: number;
  /** JSON body of POST /v1/batch/jobs, inline requests included (BATCHD_MAX_CREATE_BODY_BYTES). */
  maxCreateBodyBytes: number;
  /** JSON body of every other route (BATCHD_MAX_JSON_BODY_BYTES). */
  maxJsonBodyBytes: number;
  /** Nesting of any JSON body or batch line (BATCHD_MAX_JSON_DEPTH). */
  maxJsonDepth: number;
  /** Online requests waiting per model beyond those running; more get 429 (BATCHD_ONLINE_QUEUE_LIMIT). */
  onlineQueueLimit: number;
  /** Inputs in one embeddings, moderation or classification request (BATCHD_MAX_INPUTS). */
  maxInputsPerRequest: number;
  /** Stored bytes per workspace, uploads and results (BATCHD_MAX_STORAGE_BYTES; 0 = no quota). */
  maxStorageBytes: number;
  /** Stored files per workspace (BATCHD_MAX_FILES; 0 = no quota). */
  maxFiles: number;
  /** Failed authentications per client address per minute before 429 (BATCHD_AUTH_FAILURES_PER_MINUTE). */
  authFailuresPerMinute: number;
  /** Let user-given outbound URLs (webhooks) reach loopback, link-local and private addresses (BATCHD_ALLOW_PRIVATE_WEBHOOKS=1). */
  allowPrivateWebhooks: boolean;
  /** Host headers trusted to build signed URLs when --public-url is not set (BATCHD_TRUSTED_HOSTS, comma-separated; empty = any). */
  trustedHosts: string[];
}

export interface ConfigInput {
  host?: string;
  port?: string | number;
  dataDir?: string;
  database?: string;
  blobDir?: string;
  config?: string;
  model?: string[];
  worker?: boolean;
  maxPendingRequests?: string | number;
  publicUrl?: string;
  logLevel?: string;
  metricsPort?: string | number;
}

const MB = 1024 * 1024;

function int(value: string | number | undefined, fallback: number, name: string): number {
  if (value === undefined || value === '') return fallback;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got '${value}'`);
  return n;
}

/** A switch: on/off, true/false, 1/0 (any case); anything else is an error naming the variable. */
function onOff(value: string | undefined, fallback: boolean, name: string): boolean {
  if (value === undefined || value === '') return fallback;
  const v = value.trim().toLowerCase();
  if (v === 'on' || v === 'true' || v === '1') return true;
  if (v === 'off' || v === 'false' || v === '0') return false;
  throw new Error(`${name} must be on or off, got '${value}'`);
}

export function parseSeedKeys(spec: string | undefined): { workspace: string; key: string }[] {
  if (!spec) return [];
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf(':');
      if (i <= 0 || i === pair.length - 1) {
        throw new Error(`BATCHD_API_KEYS entries must look like 'workspace:key', got '${pair}'`);
      }
      return { workspace: pair.slice(0, i), key: pair.slice(i + 1) };
    });
}

function parseModelFlags(flags: string[] | undefined): { id: string; path: string }[] {
  return (flags ?? []).map((flag) => {
    const i = flag.indexOf('=');
    if (i <= 0) throw new Error(`--model expects name=path.gguf, got '${flag}'`);
    return { id: flag.slice(0, i), path: path.resolve(flag.slice(i + 1)) };
  });
}

/** A fraction from 0 to `max` (BATCHD_ONLINE_RESERVE). */
function fraction(value: string | undefined, fallback: number, max: number, name: string): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > max) throw new Error(`${name} must be a number from 0 to ${max}, got '${value}'`);
  return n;
}

/** Flags win over environment variables, which win over defaults. */
export function loadConfig(input: ConfigInput, env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = path.resolve(input.dataDir ?? env.BATCHD_DATA_DIR ?? './.batchd');
  const database = input.database ?? env.BATCHD_DATABASE_URL ?? `sqlite:${path.join(dataDir, 'batchd.sqlite')}`;
  return {
    host: input.host ?? env.BATCHD_HOST ?? '127.0.0.1',
    port: int(input.port ?? env.BATCHD_PORT, 8787, 'port'),
    dataDir,
    databaseUrl: database,
    blobDir: input.blobDir ?? env.BATCHD_BLOB_DIR ?? null,
    configPath: input.config ?? env.BATCHD_CONFIG ?? null,
    seedKeys: parseSeedKeys(env.BATCHD_API_KEYS),
    modelFiles: parseModelFlags(input.model),
    pgPoolSize: int(env.BATCHD_PG_POOL_SIZE, 10, 'BATCHD_PG_POOL_SIZE') || 10,
    maxFileBytes: int(env.BATCHD_MAX_FILE_BYTES, 512 * MB, 'BATCHD_MAX_FILE_BYTES'),
    maxLineBytes: int(env.BATCHD_MAX_LINE_BYTES, 10 * MB, 'BATCHD_MAX_LINE_BYTES'),
    maxInlineRequests: 10_000,
    maxPendingRequests: int(input.maxPendingRequests ?? env.BATCHD_MAX_PENDING_REQUESTS, 1_000_000, 'max-pending-requests'),
    upstreamTimeoutMs: int(env.BATCHD_UPSTREAM_TIMEOUT_MS, 600_000, 'BATCHD_UPSTREAM_TIMEOUT_MS') || 600_000,
    upstreamIoThread: onOff(env.BATCHD_UPSTREAM_IO_THREAD, true, 'BATCHD_UPSTREAM_IO_THREAD'),
    validationThreads: int(env.BATCHD_VALIDATION_THREADS, 1, 'BATCHD_VALIDATION_THREADS'),
    chunkLines: int(env.BATCHD_CHUNK_LINES, 500, 'BATCHD_CHUNK_LINES') || 500,
    worker: input.worker ?? true,
    publicUrl: input.publicUrl ?? env.BATCHD_PUBLIC_URL ?? null,
    logLevel: input.logLevel ?? env.BATCHD_LOG_LEVEL ?? 'warn',
    metricsPort:
      (input.metricsPort ?? env.BATCHD_METRICS_PORT ?? '') === '' ? null : int(input.metricsPort ?? env.BATCHD_METRICS_PORT, 0, 'BATCHD_METRICS_PORT'),
    llama: {
      threads: int(env.BATCHD_LLAMA_THREADS, 1, 'BATCHD_LLAMA_THREADS') || 1,
      sequences: int(env.BATCHD_LLAMA_SEQUENCES, 8, 'BATCHD_LLAMA_SEQUENCES') || 8,
      contextSize: int(env.BATCHD_LLAMA_CONTEXT, 8192, 'BATCHD_LLAMA_CONTEXT') || 8192,
      prefixReuse: onOff(env.BATCHD_LLAMA_PREFIX_REUSE, true, 'BATCHD_LLAMA_PREFIX_REUSE'),
      contextFromModel: (env.BATCHD_LLAMA_CONTEXT ?? '') === '',
      memoryBytes: (int(env.BATCHD_LLAMA_MEMORY_MB, 0, 'BATCHD_LLAMA_MEMORY_MB') || Math.floor(os.totalmem() / 4 / MB)) * MB,
      gpu: parseGpuSetting(env.BATCHD_LLAMA_GPU),
    },
    limits: {
      maxConnections: int(env.BATCHD_MAX_CONNECTIONS, 4096, 'BATCHD_MAX_CONNECTIONS'),
      headersTimeoutMs: int(env.BATCHD_HEADERS_TIMEOUT_MS, 30_000, 'BATCHD_HEADERS_TIMEOUT_MS'),
      requestTimeoutMs: int(env.BATCHD_REQUEST_TIMEOUT_MS, 300_000, 'BATCHD_REQUEST_TIMEOUT_MS'),
      keepAliveTimeoutMs: int(env.BATCHD_KEEP_ALIVE_TIMEOUT_MS, 5_000, 'BATCHD_KEEP_ALIVE_TIMEOUT_MS'),
      minUploadBytesPerSec: int(env.BATCHD_MIN_UPLOAD_BYTES_PER_SEC, 16 * 1024, 'BATCHD_MIN_UPLOAD_BYTES_PER_SEC'),
      uploadRateWindowMs: int(env.BATCHD_UPLOAD_RATE_WINDOW_MS, 30_000, 'BATCHD_UPLOAD_RATE_WINDOW_MS') || 30_000,
      maxOnlineBodyBytes: int(env.BATCHD_MAX_ONLINE_BODY_BYTES, 8 * MB, 'BATCHD_MAX_ONLINE_BODY_BYTES') || 8 * MB,
      maxCreateBodyBytes: int(env.BATCHD_MAX_CREATE_BODY_BYTES, 64 * MB, 'BATCHD_MAX_CREATE_BODY_BYTES') || 64 * MB,
      maxJsonBodyBytes: int(env.BATCHD_MAX_JSON_BODY_BYTES, 1 * MB, 'BATCHD_MAX_JSON_BODY_BYTES') || MB,
      maxJsonDepth: int(env.BATCHD_MAX_JSON_DEPTH, 64, 'BATCHD_MAX_JSON_DEPTH') || 64,
      onlineQueueLimit: int(env.BATCHD_ONLINE_QUEUE_LIMIT, 64, 'BATCHD_ONLINE_QUEUE_LIMIT'),
      maxInputsPerRequest: int(env.BATCHD_MAX_INPUTS, 2048, 'BATCHD_MAX_INPUTS') || 2048,
      maxStorageBytes: int(env.BATCHD_MAX_STORAGE_BYTES, 100 * 1024 * MB, 'BATCHD_MAX_STORAGE_BYTES'),
      maxFiles: int(env.BATCHD_MAX_FILES, 100_000, 'BATCHD_MAX_FILES'),
      authFailuresPerMinute: int(env.BATCHD_AUTH_FAILURES_PER_MINUTE, 30, 'BATCHD_AUTH_FAILURES_PER_MINUTE'),
      allowPrivateWebhooks: env.BATCHD_ALLOW_PRIVATE_WEBHOOKS === '1',
      trustedHosts: (env.BATCHD_TRUSTED_HOSTS ?? '')
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter(Boolean),
    },
    onlineReserve: fraction(env.BATCHD_ONLINE_RESERVE, 0.25, 0.9, 'BATCHD_ONLINE_RESERVE'),
    webhooks: {
      pollMs: int(env.BATCHD_WEBHOOK_POLL_MS, 500, 'BATCHD_WEBHOOK_POLL_MS') || 500,
      retryBaseMs: int(env.BATCHD_WEBHOOK_RETRY_BASE_MS, 5_000, 'BATCHD_WEBHOOK_RETRY_BASE_MS') || 5_000,
      retryMaxMs: int(env.BATCHD_WEBHOOK_RETRY_MAX_MS, 3600_000, 'BATCHD_WEBHOOK_RETRY_MAX_MS') || 3600_000,
      leaseMs: int(env.BATCHD_WEBHOOK_LEASE_MS, 60_000, 'BATCHD_WEBHOOK_LEASE_MS') || 60_000,
      timeoutMs: int(env.BATCHD_WEBHOOK_TIMEOUT_MS, 10_000, 'BATCHD_WEBHOOK_TIMEOUT_MS') || 10_000,
    },
    runner: {
      leaseMs: int(env.BATCHD_LEASE_MS, 30_000, 'BATCHD_LEASE_MS'),
      pollMs: int(env.BATCHD_POLL_MS, 200, 'BATCHD_POLL_MS'),
      tickMs: int(env.BATCHD_TICK_MS, 250, 'BATCHD_TICK_MS'),
      maxChunks: int(env.BATCHD_WORKER_CHUNKS, 4, 'BATCHD_WORKER_CHUNKS') || 4,
      retry: {
        maxAttempts: int(env.BATCHD_RETRY_MAX_ATTEMPTS, 8, 'BATCHD_RETRY_MAX_ATTEMPTS') || 1,
        baseDelayMs: int(env.BATCHD_RETRY_BASE_MS, 1000, 'BATCHD_RETRY_BASE_MS'),
        maxDelayMs: int(env.BATCHD_RETRY_MAX_MS, 60_000, 'BATCHD_RETRY_MAX_MS'),
      },
    },
  };
}
