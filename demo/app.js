// The demo chat: plain ES modules, no bundler. The SDK below is the compiled
// dist/client/ that applications import as `switchboard/client`.
import { connect } from '/demo/sdk/index.js';

const ROOM = 'demo:lobby';
const $ = (id) => document.getElementById(id);
let client;
let me;
let joined = false;
/** mid -> the tick element of a direct message this page sent. */
const ticks = new Map();
const online = new Map();

function line(cls, parts) {
  const li = document.createElement('li');
  li.className = cls;
  for (const [c, text] of parts) {
    const span = document.createElement('span');
    if (c) span.className = c;
    span.textContent = text;
    li.append(span);
  }
  $('log').append(li);
  $('log').scrollTop = $('log').scrollHeight;
  return li;
}

function renderOnline() {
  const ul = $('online');
  ul.replaceChildren();
  for (const [user, status] of [...online].sort()) {
    if (status === 'offline') continue;
    const li = document.createElement('li');
    li.className = status;
    li.dataset.user = user;
    li.textContent = user === me ? `${user} (you) · ${status}` : `${user} · ${status}`;
    ul.append(li);
  }
}

async function refreshOnline() {
  // Before the first join is answered the room's presence is not ours to ask.
  if (!joined || client.state !== 'open') return;
  const answer = await client.presence({ group: ROOM });
  const fresh = answer.online.filter((u) => !online.has(u));
  for (const u of answer.online) if (!online.has(u)) online.set(u, 'online');
  if (fresh.length > 0) {
    await client.watch(fresh);
    const statuses = await client.presence(fresh);
    for (const [u, p] of Object.entries(statuses.users)) online.set(u, p.status);
  }
  renderOnline();
}

function setState(text, cls) {
  $('state').textContent = text;
  $('state').className = `state ${cls}`;
}

async function start(user) {
  me = user;
  document.title = `${user} · Switchboard demo`;
  const getToken = async () => {
    const res = await fetch(`/demo/token?user=${encodeURIComponent(user)}`);
    const body = await res.json();
    if (!res.ok) throw new Error(body.error?.message ?? `HTTP ${res.status}`);
    return body.token;
  };
  client = connect({ url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`, getToken, format: 'msgpack' });
  window.demoClient = client;
  setState('connecting', 'connecting');
  client.on('connected', (d) => {
    setState('online', 'open');
    if (d.reconnected) line('note', [['', 'reconnected']]);
    refreshOnline().catch(() => {
      // The re-join may still be on its way right after a reconnect; the timer asks again.
    });
  });
  client.on('disconnected', (d) => {
    setState(d.willReconnect ? 'reconnecting' : `closed (${d.code})`, d.willReconnect ? 'reconnecting' : '');
    line('note', [['', `disconnected (${d.code})${d.willReconnect ? ', reconnecting…' : ''}`]]);
  });
  client.on('reconnecting', (d) => setState(`reconnecting in ${(d.delay / 1000).toFixed(1)} s`, 'reconnecting'));
  client.on('message', (m) => line('dm', [['tag', m.offline ? 'direct · while away' : 'direct'], ['who', m.from], ['text', String(m.content)]]));
  client.on('group', (g) => line(g.from === me ? 'room mine' : 'room', [['tag', g.group], ['who', g.from], ['text', String(g.content)]]));
  client.on('receipt', (r) => {
    const tick = ticks.get(r.mid);
    if (tick) {
      tick.textContent = '✓✓';
      tick.classList.add('read');
    }
  });
  client.on('status', (s) => {
    online.set(s.userId, s.status);
    renderOnline();
  });
  client.on('error', (e) => {
    // getToken fails while the gateway is down (the fetch has nowhere to go): the reconnect loop handles it.
    if (e.code !== 'TOKEN') line('note', [['', `error ${e.code}: ${e.message}`]]);
  });

  $('login').hidden = true;
  $('chat').hidden = false;
  await client.join(ROOM);
  joined = true;
  await refreshOnline();
  setInterval(() => {
    refreshOnline().catch((err) => line('note', [['', `presence: ${err.code ?? err.message}`]]));
  }, 3000);
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  void start($('user').value.trim());
});

$('room-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('room-text').value.trim();
  if (!text) return;
  $('room-text').value = '';
  client.publish(ROOM, text).catch((err) => line('note', [['', `not sent: ${err.code}`]]));
});

$('dm-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const to = $('to').value.trim();
  const text = $('dm-text').value.trim();
  if (!to || !text) return;
  $('dm-text').value = '';
  const li = line('dm mine', [['tag', `to ${to}`], ['text', text], ['tick', '…']]);
  const tick = li.querySelector('.tick');
  client.send(to, text).then(
    (ack) => {
      // ✓ stored in the inbox; ✓ delivered to a connection; ✓✓ acknowledged by the reader (receipt).
      tick.textContent = '✓';
      tick.title = ack.status;
      ticks.set(ack.mid, tick);
    },
    (err) => {
      tick.textContent = `✗ ${err.code}`;
    },
  );
});

$('status').addEventListener('change', () => {
  void client.setStatus($('status').value);
});

const preset = new URLSearchParams(location.search).get('user');
if (preset) void start(preset);
