import { useMemo, useState } from 'preact/hooks';
import { Api, type ApiError } from './api';
import { navigate, useHashRoute } from './hooks';
import { SignIn } from './pages/sign-in';
import { JobsPage } from './pages/jobs';
import { JobPage } from './pages/job';
import { NewJobPage } from './pages/new-job';
import { FilesPage } from './pages/files';
import { ModelsPage } from './pages/models';

/** The key lives for this browser tab only: sessionStorage, never localStorage or a cookie. */
const KEY_SLOT = 'batchd.apiKey';

export function App() {
  const [key, setKey] = useState<string | null>(() => sessionStorage.getItem(KEY_SLOT));
  const [signedOutBecause, setSignedOutBecause] = useState<string | undefined>();
  const route = useHashRoute();

  const signOut = (reason?: string) => {
    sessionStorage.removeItem(KEY_SLOT);
    setKey(null);
    setSignedOutBecause(reason);
  };
  const api = useMemo(
    () => (key ? new Api(key, (err: ApiError) => signOut(`Signed out: the server no longer accepts this API key (${err.message}).`)) : null),
    [key],
  );

  if (!api) {
    return (
      <SignIn
        notice={signedOutBecause}
        onSignedIn={(k) => {
          sessionStorage.setItem(KEY_SLOT, k);
          setSignedOutBecause(undefined);
          setKey(k);
        }}
      />
    );
  }

  const [path, query = ''] = route.split('?');
  const params = new URLSearchParams(query);
  const section = path!.split('/')[1] ?? 'jobs';
  let page;
  if (path!.startsWith('/jobs/') && path!.length > 6) page = <JobPage api={api} id={decodeURIComponent(path!.slice(6))} />;
  else if (path === '/new') page = <NewJobPage api={api} fileId={params.get('file') ?? undefined} />;
  else if (path === '/files') page = <FilesPage api={api} />;
  else if (path === '/models') page = <ModelsPage api={api} />;
  else page = <JobsPage api={api} />;

  const link = (to: string, label: string, active: boolean) => (
    <a href={`#${to}`} class={active ? 'nav-link active' : 'nav-link'} aria-current={active ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <>
      <a class="skip-link" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <header class="topbar">
        <span class="brand">batchd</span>
        <nav aria-label="Main">
          {link('/jobs', 'Jobs', section === 'jobs' || section === 'new')}
          {link('/files', 'Files', section === 'files')}
          {link('/models', 'Models', section === 'models')}
        </nav>
        <button
          type="button"
          class="button button-secondary"
          onClick={() => {
            signOut();
            navigate('/jobs');
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </>
  );
}
