import pg from 'pg';

const CHANNEL = 'batchd_jobs';

/**
 * Wake-ups between processes sharing a PostgreSQL store: a node that creates or
 * cancels a job NOTIFYs, every runner LISTENs and looks at once instead of polling hard.
 * Polling stays as the fallback, so a lost notification only delays work.
 */
export class PgJobSignals {
  private client: pg.Client | null = null;
  private closed = false;
  private retrying = false;

  constructor(private readonly url: string, private readonly onSignal: () => void) {}

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url });
    client.on('notification', () => this.onSignal());
    client.on('error', () => this.reconnect());
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.client = client;
  }

  notify(): void {
    this.client?.query(`NOTIFY ${CHANNEL}`).catch(() => undefined);
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
