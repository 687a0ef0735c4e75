import { renderResultLine } from '../../results/render.js';
import type { LineFormat } from '../types.js';

/** Mistral's lines are what the engines take; results are rendered in Mistral's shape. */
export const mistralLineFormat: LineFormat = {
  request: (body) => body,
  render: renderResultLine,
};
