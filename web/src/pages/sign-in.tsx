import { useState } from 'preact/hooks';
import { Api, ApiError } from '../api';
import { ErrorNote } from '../components';

/** Checks a key against the API before keeping it: a wrong key shows why and nothing else. */
export function SignIn({ onSignedIn, notice }: { onSignedIn: (key: string) => void; notice?: string }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>(notice);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const k = key.trim();
    if (!k) return setError('Enter an API key.');
    setBusy(true);
    setError(undefined);
    try {
      await new Api(k).jobs({ pageSize: 1 });
      onSignedIn(k);
    } catch (err) {
      const e = err as ApiError;
      if (e instanceof ApiError && e.status === 401) setError(`This API key was not accepted (401 ${e.code}): ${e.message}`);
      else if (e instanceof ApiError && e.status === 429) setError(`Too many wrong keys from this address; try again later (${e.message}).`);
      else if (e instanceof ApiError) setError(`The server refused the request (${e.status} ${e.code}): ${e.message}`);
      else setError(`Cannot reach the batchd server: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="sign-in">
      <form class="card sign-in-card" onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">batchd</h1>
        <p class="muted">Sign in with an API key. You will see the jobs, files and models of that key's workspace.</p>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={key}
          onInput={(e) => setKey((e.currentTarget as HTMLInputElement).value)}
          aria-describedby={error ? 'sign-in-error' : undefined}
          aria-invalid={error ? true : undefined}
        />
        <button type="submit" class="button button-primary" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
        <div id="sign-in-error">
          <ErrorNote error={error} />
        </div>
        <p class="muted small">
          The key is kept in this tab's session storage only. <code>batchd keys create --workspace NAME</code> makes one.
        </p>
      </form>
    </main>
  );
}
