/**
 * One abort listener per signal, fanning out to every callback registered on it. The
 * runner passes one signal for a whole chunk of lines to every call, slot wait and
 * backoff of those lines; a listener each would pile up hundreds on one signal (and
 * trip Node's MaxListeners warning). Returns the function that unregisters `fn`.
 */
const linked = new WeakMap<AbortSignal, Set<() => void>>();

export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let fns = linked.get(signal);
  if (!fns) {
    const set = (fns = new Set());
    linked.set(signal, set);
    signal.addEventListener('abort', () => set.forEach((f) => f()), { once: true });
  }
  fns.add(fn);
  return () => fns.delete(fn);
}
