import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetch } from 'undici';
import { checkOutboundUrl, createOutboundAgent, guardedLookup, OutboundUrlError } from '../../src/net/outbound-guard.js';
import { forbiddenAddressReason } from '../../src/net/ip.js';

describe('which addresses a user-given URL may reach', () => {
  const forbidden = [
    '127.0.0.1',
    '127.255.255.254',
    '0.0.0.0',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '169.254.0.1',
    '100.64.0.1',
    '100.127.255.255',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '0:0:0:0:0:0:0:1',
    'fe80::1',
    'fe80::1%eth0',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::FFFF:7f00:1',
    '::ffff:169.254.169.254',
    '::ffff:10.0.0.1',
    '::127.0.0.1',
    '64:ff9b::7f00:1',
    '2002:7f00:1::',
    '2002:a9fe:a9fe::1',
    '[::1]',
  ];
  const allowed = [
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '169.253.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2a00:1450::1',
  ];

  test('loopback, private, link-local, unique-local, CGNAT, metadata and their IPv6 spellings are refused', () => {
    for (const a of forbidden) assert.ok(forbiddenAddressReason(a), `${a} must be refused`);
  });

  test('public unicast addresses pass', () => {
    for (const a of allowed) assert.equal(forbiddenAddressReason(a), null, a);
  });
});

describe('checkOutboundUrl: create-time validation', () => {
  const refused = (url: string, pattern: RegExp) =>
    assert.throws(
      () => checkOutboundUrl(url, { allowPrivate: false }),
      (e: unknown) => e instanceof OutboundUrlError && pattern.test(e.message),
      url,
    );

  test('only http and https, without credentials', () => {
    refused('ftp://example.com/x', /scheme 'ftp'/);
    refused('file:///etc/passwd', /scheme 'file'/);
    refused('https://user:pw@example.com/hook', /credentials/);
    refused('not a url', /not an absolute URL/);
    assert.equal(checkOutboundUrl('https://hooks.example.com/x?y=1', { allowPrivate: false }).hostname, 'hooks.example.com');
  });

  test('private literals and local names are refused unless allowed', () => {
    for (const url of [
      'http://127.0.0.1:8787/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://169.254.169.254/latest/meta-data',
      'http://0.0.0.0/',
      'http://localhost/',
      'http://api.localhost/',
      'http://2130706433/',
      'http://0x7f.1/',
    ]) {
      refused(url, /BATCHD_ALLOW_PRIVATE_WEBHOOKS=1|this machine/);
      assert.ok(checkOutboundUrl(url, { allowPrivate: true }));
    }
    refused('https://user@localhost/', /credentials/);
  });
});

describe('createOutboundAgent: checked at connect time against real servers', () => {
  let server: http.Server;
  let port: number;
  let hits = 0;
  before(async () => {
    server = http.createServer((_req, res) => {
      hits++;
      res.end('reached');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const refusedAtConnect = async (url: string, agent: ReturnType<typeof createOutboundAgent>) => {
    const before = hits;
    await assert.rejects(fetch(url, { dispatcher: agent }), (e: Error) => {
      const cause = e.cause as Error | undefined;
      return cause instanceof OutboundUrlError && /BATCHD_ALLOW_PRIVATE_WEBHOOKS=1/.test(cause.message);
    });
    assert.equal(hits, before, 'the server was never reached');
  };

  test('a loopback literal is refused; with the operator flag it is reached', async (t) => {
    const guarded = createOutboundAgent({ allowPrivate: false });
    const open = createOutboundAgent({ allowPrivate: true });
    t.after(() => Promise.all([guarded.close(), open.close()]));
    await refusedAtConnect(`http://127.0.0.1:${port}/`, guarded);
    const res = await fetch(`http://127.0.0.1:${port}/`, { dispatcher: open });
    assert.equal(await res.text(), 'reached');
  });

  test('a name that resolves to loopback (localhost) is refused when connecting; allowed with the flag', async (t) => {
    const guarded = createOutboundAgent({ allowPrivate: false });
    const open = createOutboundAgent({ allowPrivate: true });
    t.after(() => Promise.all([guarded.close(), open.close()]));
    await refusedAtConnect(`http://localhost:${port}/`, guarded);
    const res = await fetch(`http://localhost:${port}/`, { dispatcher: open });
    assert.equal(await res.text(), 'reached');
  });

  test('DNS rebinding: a name that passed the create-time check and now resolves to loopback is refused at connect time', async (t) => {
    // The pre-check does not resolve names; the resolver then answers with loopback, as a rebinding server would.
    assert.ok(checkOutboundUrl(`http://hooks.example.com:${port}/`, { allowPrivate: false }));
    let lookups = 0;
    const rebinding = (_host: string, _opts: unknown, cb: (err: null, addrs: { address: string; family: number }[]) => void) => {
      lookups++;
      cb(null, [{ address: '127.0.0.1', family: 4 }]);
    };
    const guarded = createOutboundAgent({ allowPrivate: false, resolve: rebinding });
    t.after(() => guarded.close());
    await refusedAtConnect(`http://hooks.example.com:${port}/`, guarded);
    assert.ok(lookups >= 1, 'resolved when connecting');
  });

  test('of a mixed answer only the public addresses are given to the connection', async () => {
    const mixed = (_host: string, _opts: unknown, cb: (err: null, addrs: { address: string; family: number }[]) => void) =>
      cb(null, [
        { address: '127.0.0.1', family: 4 },
        { address: '93.184.215.14', family: 4 },
        { address: '::1', family: 6 },
      ]);
    const lookup = guardedLookup(mixed);
    const all = await new Promise<unknown>((resolve, reject) =>
      lookup('mixed.example.com', { all: true }, (err, addrs) => (err ? reject(err) : resolve(addrs))),
    );
    assert.deepEqual(all, [{ address: '93.184.215.14', family: 4 }]);
    const one = await new Promise<unknown>((resolve, reject) => lookup('mixed.example.com', {}, (err, addr) => (err ? reject(err) : resolve(addr))));
    assert.equal(one, '93.184.215.14');
  });
});
