import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * Where `vite build --config web/vite.config.ts` writes the dashboard. Found from this module's
 * place, so it is the same folder whether batchd runs from dist/ (dist/web/static.js) or from the
 * TypeScript sources (src/web/static.ts): <package>/dist/web/ui.
 */
export const BUILT_DASHBOARD_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'web', 'ui');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.map': 'application/json',
};

// The dashboard loads nothing from elsewhere; uPlot sizes its canvas with style attributes, hence style 'unsafe-inline'.
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/**
 * The web dashboard at `/`: static files, no key needed to load them (the page asks for one
 * and calls the authenticated API with it). Asset names carry a content hash, so they are
 * cached for good; index.html is revalidated so a new build shows at the next load.
 */
export function registerDashboard(app: FastifyInstance, dir: string = BUILT_DASHBOARD_DIR) {
  const index = path.join(dir, 'index.html');
  app.get('/', async (_req, reply) => {
    if (!fs.existsSync(index)) {
      return reply
        .status(503)
        .type('text/plain; charset=utf-8')
        .send(`The batchd dashboard is not built. Run \`npm run build\` in the batchd package (it writes ${dir}) and reload.\n`);
    }
    reply.headers({ ...SECURITY_HEADERS, 'cache-control': 'no-cache' });
    return sendFile(reply, index, 'text/html; charset=utf-8');
  });
  // Hidden from /openapi.json: build artefacts, not API.
  app.get<{ Params: { name: string } }>('/assets/:name', { schema: { hide: true } as object }, async (req, reply) => {
    const name = req.params.name;
    const type = TYPES[path.extname(name)];
    // A bare file name of a known type: nothing outside the assets folder can be named.
    const file = path.join(dir, 'assets', name);
    if (!/^[\w.-]+$/.test(name) || name.startsWith('.') || !type || !fs.existsSync(file)) {
      return reply.status(404).type('text/plain; charset=utf-8').send(`No dashboard asset '${name}'.\n`);
    }
    reply.headers({ ...SECURITY_HEADERS, 'cache-control': 'public, max-age=31536000, immutable' });
    return sendFile(reply, file, type);
  });
}

function sendFile(reply: FastifyReply, file: string, type: string) {
  return reply.type(type).header('content-length', fs.statSync(file).size).send(fs.createReadStream(file));
}
