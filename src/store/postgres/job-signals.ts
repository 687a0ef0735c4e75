import pg from 'pg';

const CHANNEL = 'batchd_jobs';

/**
 * Wake-ups between processes sharing a PostgreSQL store: a node that creates, cancels,
 * admits or deletes a job NOTIFYs with what changed as the payload; every runner
 * LISTENs and looks at once instead of polling hard. Polling stays as the fallback, so
 * a lost notification only delays work.
 */
export class PgJobSignals {
  private client: pg.Client | null = null;
  private closed = false;
  private retrying = false;

  constructor(
    private readonly url: string,
    private readonly onSignal: (payload: string) => void,
  ) {}

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: 'batchd' });
    client.on('notification', (n) => this.onSignal(n.payload ?? ''));
    client.on('error', () => this.reconnect());
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.client = client;
  }

  notify(payload: string): void {
    this.client?.query('select pg_notify($1, $2)', [CHANNEL, payload]).catch(() => undefined);
  }

  /** One retry at a time: a failed connect reports both an 'error' event and a rejection. */
  private reconnect() {
    const old = this.client;
    this.client = null;
    old?.end().catch(() => undefined);
    if (this.closed || this.retrying) return;
    this.retrying = true;
    setTimeout(() => {
      this.retrying = false;
      if (!this.closed) this.start().catch(() => this.reconnect());
    }, 1000).unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }
}
