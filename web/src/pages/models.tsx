import { useRef } from 'preact/hooks';
import type { Api } from '../api';
import { ErrorNote } from '../components';
import { count, rate } from '../format';
import { usePoll } from '../hooks';
import { recentRate, type Sample } from '../throughput';

const WINDOW_S = 30;

/**
 * Each model's engine and backend (GET /v1/dashboard/models) with this workspace's work on it.
 * Recent throughput is measured here: the completed counts of the workspace's newest 100 jobs
 * are sampled every 2 s and summed per model, over the last 30 s while the page is open.
 */
export function ModelsPage({ api }: { api: Api }) {
  const history = useRef(new Map<string, Sample[]>());
  const load = usePoll(
    async () => {
      const [models, jobs] = await Promise.all([api.modelLoad(), api.jobs({ pageSize: 100 })]);
      const t = Date.now() / 1000;
      const done = new Map<string, number>();
      for (const j of jobs.data) done.set(j.model, (done.get(j.model) ?? 0) + j.completed_requests);
      for (const m of models.data) {
        const h = history.current.get(m.id) ?? [];
        h.push({ t, done: done.get(m.id) ?? 0 });
        while (h.length > 2 && h[1]!.t < t - WINDOW_S) h.shift();
        history.current.set(m.id, h);
      }
      // The models this workspace uses (running or among its newest jobs) first, the rest of the registry after.
      const used = (id: string) => (models.data.find((m) => m.id === id)?.running_jobs ? 2 : done.has(id) ? 1 : 0);
      return { ...models, data: [...models.data].sort((a, b) => used(b.id) - used(a.id)) };
    },
    2000,
    [api],
  );

  return (
    <section aria-labelledby="models-title">
      <h1 id="models-title">Models</h1>
      <p class="muted small">
        In flight: lines of this workspace's running jobs being worked on now; waiting: lines not yet started. Throughput: lines per second over the last{' '}
        {WINDOW_S} s, measured while this page is open.
      </p>
      <ErrorNote error={load.error} />
      {load.data ? (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Engine</th>
                <th scope="col">Backend</th>
                <th scope="col">Max in flight</th>
                <th scope="col">In flight</th>
                <th scope="col">Waiting</th>
                <th scope="col">Running jobs</th>
                <th scope="col">Recent throughput</th>
              </tr>
            </thead>
            <tbody>
              {load.data.data.map((m) => {
                const h = history.current.get(m.id) ?? [];
                return (
                  <tr key={m.id} data-model={m.id}>
                    <th scope="row">{m.id}</th>
                    <td>{m.engine}</td>
                    <td class="small">{m.backend}</td>
                    <td>{count(m.max_in_flight)}</td>
                    <td>{count(m.in_flight)}</td>
                    <td>{count(m.waiting)}</td>
                    <td>{count(m.running_jobs)}</td>
                    <td class="nowrap">{h.length < 2 ? 'measuring…' : rate(recentRate(h, WINDOW_S))}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : (
        <p class="muted">Loading…</p>
      )}
    </section>
  );
}
