import { useRef } from 'preact/hooks';
import type { Api } from '../api';
import { DataTable, ErrorNote } from '../components';
import { count, rate } from '../format';
import { usePoll } from '../hooks';
import { recentRate, type Sample } from '../throughput';
import { answeredRequests } from '../types';

const WINDOW_S = 30;

/**
 * Each model's engine and backend (GET /v1/dashboard/models) with this workspace's work on it.
 * Recent throughput is measured here: the answered lines of the workspace's newest 100 jobs
 * (not those a cancel or a timeout closed) are sampled every 2 s and summed per model, over
 * the last 30 s while the page is open.
 */
export function ModelsPage({ api }: { api: Api }) {
  const history = useRef(new Map<string, Sample[]>());
  const load = usePoll(
    async () => {
      const [models, jobs] = await Promise.all([api.modelLoad(), api.jobs({ pageSize: 100 })]);
      const t = Date.now() / 1000;
      const done = new Map<string, number>();
      for (const j of jobs.data) if (j.model !== null) done.set(j.model, (done.get(j.model) ?? 0) + answeredRequests(j));
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
        Lines leased: lines of this workspace's running jobs handed to a worker and not yet answered (the worker sends them to the engine up to its max in
        flight at a time); waiting: lines no worker has taken yet. Throughput: lines answered per second over the last {WINDOW_S} s, measured while this page is
        open.
      </p>
      <ErrorNote error={load.error} />
      {load.data ? (
        <DataTable columns={['Model', 'Engine', 'Backend', 'Max in flight', 'Lines leased', 'Waiting', 'Running jobs', 'Recent throughput']}>
          {load.data.data.map((m) => {
            const h = history.current.get(m.id) ?? [];
            return (
              <tr key={m.id} data-model={m.id}>
                <th scope="row">{m.id}</th>
                <td>{m.engine}</td>
                <td class="small">{m.backend}</td>
                <td>{count(m.max_in_flight)}</td>
                <td>{count(m.lines_leased)}</td>
                <td>{count(m.waiting)}</td>
                <td>{count(m.running_jobs)}</td>
                <td class="nowrap">{h.length < 2 ? 'measuring…' : rate(recentRate(h, WINDOW_S))}</td>
              </tr>
            );
          })}
        </DataTable>
      ) : (
        <p class="muted">Loading…</p>
      )}
    </section>
  );
}
