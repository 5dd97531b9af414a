import t from 'tap';
import { pack } from 'msgpackr';
import { startGateway } from '../helpers/gateway.js';
import { TestClient, expectRefused, type Frame } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';
import { Scrape, scrapeUntil } from '../helpers/prometheus.js';

/** The names dashboards used before labels were added: each must still be exported. */
const LEGACY_NAMES = [
  'connections_current', 'connections_opened_total', 'connections_closed_total', 'upgrades_rejected_total', 'frames_in_total',
  'frames_rejected_total', 'messages_direct_total', 'messages_group_total', 'messages_broadcast_total', 'slow_consumers_closed_total',
  'http_requests_total', 'frames_out_total', 'api_requests_total', 'api_requests_failed_total', 'api_idempotent_replays_total',
  'api_messages_total', 'api_disconnects_total',
];

/** Counts every frame and byte a client receives, whatever reads its frames. */
function tally(client: TestClient): { frames: number; bytes: number } {
  const seen = { frames: 0, bytes: 0 };
  client.ws.on('message', (data: Buffer) => {
    seen.frames += 1;
    seen.bytes += data.length;
  });
  return seen;
}

t.test('GET /metrics after real traffic: counters, labels and histograms move as the traffic says', async (t) => {
  const { url, httpUrl } = await startGateway(t, { Groups: { Open: ['room:*'] } });
  const alice = await TestClient.connect(url, { token: await token({ sub: 'alice' }), format: 'json' });
  const bob = await TestClient.connect(url, { token: await token({ sub: 'bob' }), format: 'msgpack' });
  const received = [tally(alice), tally(bob)];
  let bytesSent = 0;
  const sent: Record<string, number> = {};
  const request = (client: TestClient, frame: Frame, id: string): Promise<Frame> => {
    const full = { ...frame, id };
    bytesSent += client.format === 'msgpack' ? pack(full).length : Buffer.byteLength(JSON.stringify(full));
    sent[frame.type] = (sent[frame.type] ?? 0) + 1;
    return client.request(full);
  };

  for (let i = 0; i < 5; i++) t.equal((await request(alice, { type: 'ping' }, `p${i}`)).type, 'pong');
  const acks: Frame[] = [];
  for (let i = 0; i < 3; i++) acks.push(await request(alice, { type: 'message', data: { to: 'bob', content: `hi ${i}` } }, `m${i}`));
  t.equal((await request(alice, { type: 'join', data: { group: 'room:1' } }, 'j')).type, 'ack');
  t.equal((await request(alice, { type: 'group', data: { group: 'room:1', content: 'all' } }, 'g1')).type, 'ack');
  const forbidden = await request(alice, { type: 'group', data: { group: 'room:2', content: 'not a member' } }, 'g2');
  t.equal(forbidden.data.code, 'FORBIDDEN');
  // A frame that does not decode: counted as type "invalid", answered with an error.
  alice.sendRaw('{"type":', false);
  bytesSent += Buffer.byteLength('{"type":');
  const invalid = await alice.next((f) => f.type === 'error' && f.id === undefined);
  const invalidCode = invalid.data.code as string;

  const lastSeq = (await bob.next((f) => f.type === 'message' && f.data.content === 'hi 2')).data.seq as number;
  t.equal((await request(bob, { type: 'ack', data: { upTo: lastSeq } }, 'a1')).data.removed, 3);
  for (const ack of acks) await alice.next((f) => f.type === 'receipt' && f.data.mid === ack.data.mid);
  await alice.next((f) => f.type === 'group' && f.data.content === 'all');

  const refused = await expectRefused(url, { token: 'not-a-jwt' });
  t.equal(refused.body.error.code, 'UNAUTHORIZED');

  const framesSent = Object.values(sent).reduce((a, b) => a + b, 0) + 1;
  const s = await Scrape.of(httpUrl);
  for (const name of LEGACY_NAMES) t.ok(s.has(`switchboard_${name}`), `${name} is still exported`);
  t.equal(s.family('switchboard_frame_handle_seconds').type, 'HISTOGRAM');

  t.equal(s.value('switchboard_connections_current'), 2);
  t.equal(s.value('switchboard_users_online'), 2);
  t.equal(s.value('switchboard_connections_opened_total'), 2);
  for (const [type, n] of Object.entries(sent)) t.equal(s.value('switchboard_frames_in_total', { type }), n, `frames_in_total{type="${type}"}`);
  t.equal(s.value('switchboard_frames_in_total', { type: 'invalid' }), 1);
  t.equal(s.sum('switchboard_frames_in_total'), framesSent, 'every frame counted once');
  t.equal(s.value('switchboard_bytes_in_total'), bytesSent, 'bytes in: every byte of every frame');

  t.equal(s.histogramCount('switchboard_frame_handle_seconds'), framesSent, 'one handling time per frame sent');
  const pings = s.histogram('switchboard_frame_handle_seconds', { type: 'ping' });
  t.equal(pings.count, 5);
  t.equal(pings.buckets['+Inf'], 5);
  t.ok(pings.sum > 0 && pings.sum < 5, 'handling times are seconds, not milliseconds');
  const bounds = Object.keys(pings.buckets).filter((le) => le !== '+Inf').map(Number).sort((a, b) => a - b);
  t.equal(bounds[0], 0.0001, 'buckets start at 100 µs');
  t.equal(bounds[bounds.length - 1], 10, 'buckets end at 10 s');
  for (let i = 1; i < bounds.length; i++) t.ok(pings.buckets[String(bounds[i])]! >= pings.buckets[String(bounds[i - 1])]!, 'cumulative');
  t.equal(s.histogram('switchboard_frame_handle_seconds', { type: 'invalid' }).count, 1);

  t.equal(s.value('switchboard_frames_rejected_total', { code: 'FORBIDDEN' }), 1, 'a FORBIDDEN reply is a rejection');
  t.equal(s.value('switchboard_frames_rejected_total', { code: invalidCode }), 1, `an undecodable frame: ${invalidCode}`);
  t.equal(s.sum('switchboard_frames_rejected_total'), 2);
  t.equal(s.value('switchboard_upgrades_rejected_total', { code: 'UNAUTHORIZED' }), 1);

  t.equal(s.value('switchboard_messages_direct_total'), 3);
  t.equal(s.value('switchboard_messages_group_total'), 1);
  t.equal(s.value('switchboard_inbox_stored_total'), 3);
  t.equal(s.histogram('switchboard_inbox_append_seconds').count, 3);
  const ackDelay = s.histogram('switchboard_delivery_ack_seconds');
  t.equal(ackDelay.count, 3, 'one ack delay per acknowledged message');
  t.ok(ackDelay.sum >= 0 && ackDelay.sum < 30);

  const out = received.reduce((a, r) => ({ frames: a.frames + r.frames, bytes: a.bytes + r.bytes }), { frames: 0, bytes: 0 });
  t.equal(s.value('switchboard_frames_out_total'), out.frames, 'frames out: exactly what the clients received');
  t.equal(s.value('switchboard_bytes_out_total'), out.bytes, 'bytes out: exactly what the clients received');

  t.ok(s.value('process_resident_memory_bytes') > 0, 'prom-client default process metrics');
  t.ok(s.has('nodejs_eventloop_lag_p99_seconds'), 'prom-client default event-loop delay');
  t.notOk(s.has('switchboard_redis_connected'), 'no Redis, no Redis state');

  await alice.close(1000);
  const after = await scrapeUntil(httpUrl, (x) => x.value('switchboard_connections_closed_total', { code: '1000' }) === 1);
  t.equal(after.value('switchboard_connections_current'), 1);
  t.equal(after.value('switchboard_users_online'), 1);
  await bob.close(4001);
  const last = await scrapeUntil(httpUrl, (x) => x.value('switchboard_connections_closed_total', { code: '4001' }) === 1);
  t.equal(last.sum('switchboard_connections_closed_total'), 2, 'closes by code');
});

t.test('rate-limit refusals are counted as refusals and by scope', async (t) => {
  const { url, httpUrl } = await startGateway(t, { Limits: { RateLimit: { MessagesPerSecond: 0.001, Burst: 2 } } });
  const c = await TestClient.connect(url, { token: await token({ sub: 'carol' }) });
  const replies = [];
  for (let i = 0; i < 4; i++) replies.push(await c.request({ type: 'ping' }));
  t.same(replies.map((r) => r.type), ['pong', 'pong', 'error', 'error']);
  const s = await Scrape.of(httpUrl);
  t.equal(s.value('switchboard_rate_limited_total', { scope: 'frame' }), 2);
  t.equal(s.value('switchboard_frames_rejected_total', { code: 'RATE_LIMITED' }), 2);
  t.equal(s.histogram('switchboard_frame_handle_seconds', { type: 'ping' }).count, 4, 'refused frames are timed too');
  await c.close();
});

t.test('inbox replay and presence watchers', async (t) => {
  const { url, httpUrl } = await startGateway(t);
  const dave = await TestClient.connect(url, { token: await token({ sub: 'dave' }) });
  for (let i = 0; i < 2; i++) await dave.request({ type: 'message', data: { to: 'erin', content: i } });
  t.equal((await dave.request({ type: 'watch', data: { users: ['erin', 'frank'] } })).data.watching, 2);
  const erin = await TestClient.connect(url, { token: await token({ sub: 'erin' }) });
  await erin.next((f) => f.type === 'message' && f.data.offline === true && f.data.content === 1);
  const s = await scrapeUntil(httpUrl, (x) => x.value('switchboard_inbox_replayed_total') === 2);
  t.equal(s.value('switchboard_inbox_stored_total'), 2);
  t.equal(s.value('switchboard_presence_watchers'), 2);
  await dave.close();
  await erin.close();
});
