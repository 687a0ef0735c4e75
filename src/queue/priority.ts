/**
 * A job's priority as the API names it and as the store ranks it (batch_jobs.priority,
 * migration 011): claims within a workspace and model take the highest rank first.
 */
export const Priority = { high: 2, normal: 1, low: 0 } as const;
export type PriorityName = keyof typeof Priority;
export const PRIORITY_NAMES = Object.keys(Priority) as PriorityName[];

export const isPriorityName = (s: unknown): s is PriorityName => typeof s === 'string' && (PRIORITY_NAMES as string[]).includes(s);

/** The name of a stored rank (an unknown rank reads as normal). */
export function priorityName(rank: number): PriorityName {
  return PRIORITY_NAMES.find((n) => Priority[n] === Number(rank)) ?? 'normal';
}
