import { useEffect, useRef, useState } from 'preact/hooks';

/** The part of the address after `#`, kept in state: the dashboard's router. */
export function useHashRoute(): string {
  const read = () => window.location.hash.replace(/^#/, '') || '/jobs';
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = () => setRoute(read());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export const navigate = (route: string) => {
  window.location.hash = route;
};

/**
 * Runs `load` now and every `everyMs` while the component is shown (and again when `deps`
 * change); an answer that arrives after newer deps is dropped. A failed load is reported,
 * and the next tick tries again.
 */
export function usePoll<T>(load: () => Promise<T>, everyMs: number, deps: unknown[]): { data: T | undefined; error: Error | undefined; refresh: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [nonce, setNonce] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const v = await loadRef.current();
        if (!live) return;
        setData(v);
        setError(undefined);
      } catch (err) {
        if (live) setError(err as Error);
      }
      if (live) timer = setTimeout(() => void tick(), everyMs);
    };
    void tick();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [...deps, nonce, everyMs]);
  return { data, error, refresh: () => setNonce((n) => n + 1) };
}

/** Seconds since the epoch, ticking once a second: for durations of running jobs. */
export function useNow(): number {
  const [now, setNow] = useState(() => Date.now() / 1000);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now() / 1000), 1000);
    return () => clearInterval(t);
  }, []);
  return now;
}
