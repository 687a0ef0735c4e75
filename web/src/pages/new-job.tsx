import { useState } from 'preact/hooks';
import type { Api } from '../api';
import { ErrorNote } from '../components';
import { bytes } from '../format';
import { navigate, usePoll } from '../hooks';

/** `key=value` per line → metadata; a line without `=` is an error naming it. */
function parseMetadata(text: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  const lines = text.split('\n').map((l) => l.trim());
  for (const [i, line] of lines.entries()) {
    if (!line) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) return `Metadata line ${i + 1} ("${line}") is not key=value.`;
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/** POST /v1/batch/jobs from an uploaded batch file; the endpoints offered are those the chosen model serves. */
export function NewJobPage({ api, fileId }: { api: Api; fileId?: string }) {
  const files = usePoll(() => api.files(), 60_000, [api]);
  const models = usePoll(() => api.models(), 60_000, [api]);
  const batchFiles = files.data?.data.filter((f) => f.purpose === 'batch') ?? [];
  // What the user picked, or nothing yet: the form shows (and submits) the first choice until then.
  // Derived rather than set by an effect, so a pick made just as the lists arrive is never overwritten.
  const [pickedFile, setFile] = useState(fileId ?? '');
  const [pickedModel, setModel] = useState('');
  const [pickedEndpoint, setEndpoint] = useState('/v1/chat/completions');
  const [metadata, setMetadata] = useState('');
  const [timeout, setTimeoutHours] = useState('24');
  const [error, setError] = useState<string | Error | undefined>();
  const [busy, setBusy] = useState(false);

  const file = pickedFile || (batchFiles[0]?.id ?? '');
  const model = pickedModel || (models.data?.data[0]?.id ?? '');
  const endpoints = models.data?.data.find((m) => m.id === model)?.batchd?.endpoints ?? ['/v1/chat/completions'];
  const endpoint = endpoints.includes(pickedEndpoint) ? pickedEndpoint : (endpoints[0] ?? '/v1/chat/completions');

  const submit = async (e: Event) => {
    e.preventDefault();
    const meta = parseMetadata(metadata);
    if (typeof meta === 'string') return setError(meta);
    if (!file) return setError('Choose an input file (upload one on the Files page).');
    setBusy(true);
    setError(undefined);
    try {
      const job = await api.createJob({
        input_files: [file],
        model,
        endpoint,
        timeout_hours: Number(timeout),
        ...(Object.keys(meta).length ? { metadata: meta } : {}),
      });
      navigate(`/jobs/${job.id}`);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="new-title">
      <p>
        <a href="#/jobs">← Jobs</a>
      </p>
      <h1 id="new-title">New job</h1>
      <form class="card form" onSubmit={submit}>
        <label for="job-file">Input file</label>
        <select id="job-file" value={file} onChange={(e) => setFile((e.currentTarget as HTMLSelectElement).value)} required>
          {batchFiles.length === 0 ? <option value="">No batch files yet: upload one on the Files page</option> : null}
          {batchFiles.map((f) => (
            <option key={f.id} value={f.id}>
              {f.filename} · {f.num_lines ?? '?'} lines · {bytes(f.bytes)} · {f.id.slice(0, 8)}
            </option>
          ))}
        </select>
        <label for="job-model">Model</label>
        <select id="job-model" value={model} onChange={(e) => setModel((e.currentTarget as HTMLSelectElement).value)} required>
          {(models.data?.data ?? []).map((m) => (
            <option key={m.id} value={m.id}>
              {m.id}
            </option>
          ))}
        </select>
        <label for="job-endpoint">Endpoint</label>
        <select id="job-endpoint" value={endpoint} onChange={(e) => setEndpoint((e.currentTarget as HTMLSelectElement).value)}>
          {endpoints.map((ep) => (
            <option key={ep} value={ep}>
              {ep}
            </option>
          ))}
        </select>
        <label for="job-metadata">Metadata (optional, one key=value per line)</label>
        <textarea id="job-metadata" rows={3} value={metadata} onInput={(e) => setMetadata((e.currentTarget as HTMLTextAreaElement).value)} />
        <label for="job-timeout">Timeout (hours)</label>
        <input id="job-timeout" type="number" min={1} max={168} value={timeout} onInput={(e) => setTimeoutHours((e.currentTarget as HTMLInputElement).value)} />
        <ErrorNote error={error ?? files.error ?? models.error} />
        <div>
          <button type="submit" class="button button-primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create job'}
          </button>
        </div>
      </form>
    </section>
  );
}
