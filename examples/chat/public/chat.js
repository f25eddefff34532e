// The sockey chat page: plain JavaScript over the socket.io client the server hands out.
// Wire protocol: emit with an ack -> { ok, err, res, code? }; pushes arrive as chat.message / chat.typing.
(() => {
  'use strict';

  const DEFAULT_ROOMS = ['general', 'random'];
  const SESSION_KEY = 'sockey.chat.session';
  const $ = (id) => document.querySelector(`[data-testid="${id}"]`);

  let session = load();
  let room = null;
  const rooms = new Set(DEFAULT_ROOMS);
  const seen = new Set(); // message ids shown in the current room
  const typing = new Map(); // name -> timeout that hides a stale notice
  let lastTyping = 0; // when this page last said "typing"

  // The handshake carries the saved session, so a reload or reconnect stays signed in.
  const socket = io({ auth: (cb) => cb(session ? { name: session.name, token: session.token } : {}) });

  function load() {
    try {
      const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
      return s && typeof s.name === 'string' && typeof s.token === 'string' ? s : null;
    } catch {
      return null;
    }
  }

  function save(s) {
    session = s;
    if (s) sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
    else sessionStorage.removeItem(SESSION_KEY);
  }

  /** Emits with an ack; resolves with the envelope (a timeout becomes an error envelope). */
  function call(event, payload) {
    return new Promise((resolve) => {
      socket.timeout(10000).emit(event, payload, (err, envelope) => {
        resolve(err ? { ok: false, err: 'The server did not answer.', code: 'TIMEOUT' } : envelope);
      });
    });
  }

  function show(el, text) {
    el.textContent = text || '';
    el.hidden = !text;
  }

  // --- signing in -------------------------------------------------------------

  async function signIn(type) {
    const user = { name: $('auth-name').value.trim(), password: $('auth-password').value };
    show($('auth-error'), '');
    const env = await call('auth', { type, user });
    if (!env.ok) return show($('auth-error'), env.err);
    save({ name: env.res.name, token: env.res.token });
    $('auth-password').value = '';
    await enter();
  }

  async function enter() {
    $('signin').hidden = true;
    $('chat').hidden = false;
    $('me').textContent = session.name;
    $('avatar').textContent = session.name.slice(0, 1).toUpperCase();
    const listed = await call('chat.rooms', {});
    if (listed.ok) for (const r of listed.res) rooms.add(r.room);
    const wanted = decodeURIComponent(location.hash.slice(1));
    await switchTo(/^[a-z0-9][a-z0-9_-]{0,31}$/.test(wanted) ? wanted : room || 'general');
    $('composer').focus();
  }

  function signedOut(message) {
    save(null);
    room = null;
    $('chat').hidden = true;
    $('signin').hidden = false;
    show($('auth-error'), message || '');
    $('auth-name').focus();
  }

  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void signIn('login');
  });
  $('register').addEventListener('click', () => {
    if ($('signin-form').reportValidity()) void signIn('register');
  });
  $('logout').addEventListener('click', async () => {
    await call('auth', { type: 'logout' });
    signedOut();
  });

  // --- rooms ------------------------------------------------------------------

  function renderRooms() {
    const list = $('rooms');
    list.replaceChildren();
    for (const name of [...rooms].sort()) {
      const li = document.createElement('li');
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.textContent = `# ${name}`;
      btn.dataset.testid = `room-${name}`;
      btn.className = name === room ? 'active' : '';
      btn.addEventListener('click', () => void switchTo(name));
      li.append(btn);
      list.append(li);
    }
  }

  async function switchTo(name) {
    show($('chat-error'), '');
    if (room && room !== name) await call('chat.leave', { room });
    const env = await call('chat.join', { room: name });
    if (!env.ok) {
      if (env.code === 'UNAUTHORIZED') return signedOut('Please sign in again.');
      return show($('chat-error'), env.err);
    }
    room = name;
    rooms.add(name);
    history.replaceState(null, '', `#${name}`);
    $('room-title').textContent = `# ${name}`;
    $('messages').replaceChildren();
    seen.clear();
    for (const t of typing.values()) clearTimeout(t);
    typing.clear();
    renderTyping();
    for (const m of env.res) addMessage(m);
    renderRooms();
  }

  $('new-room-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('new-room').value.trim().toLowerCase();
    if (!name || !$('new-room').checkValidity()) return;
    $('new-room').value = '';
    void switchTo(name);
  });

  // --- messages ---------------------------------------------------------------

  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

  function addMessage(m) {
    if (m.room !== room || seen.has(m.id)) return;
    seen.add(m.id);
    const li = document.createElement('li');
    li.className = m.author === session?.name ? 'message mine' : 'message';
    li.dataset.testid = 'message';
    const head = document.createElement('div');
    head.className = 'meta';
    const who = document.createElement('strong');
    who.textContent = m.author;
    const when = document.createElement('time');
    const at = new Date(Number(m.created_at));
    when.textContent = Number.isNaN(at.getTime()) ? '' : timeFormat.format(at);
    head.append(who, ' ', when);
    const body = document.createElement('p');
    body.className = 'body';
    body.textContent = m.body;
    li.append(head, body);
    const list = $('messages');
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(li);
    if (atBottom || m.author === session?.name) list.scrollTop = list.scrollHeight;
  }

  socket.on('chat.message', (env) => {
    if (!env.ok) return;
    addMessage(env.res);
    setTyping(env.res.author, false);
  });

  $('composer-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = $('composer');
    const body = input.value.trim();
    if (!body || !room) return;
    input.value = '';
    lastTyping = 0;
    const env = await call('chat.send', { room, body });
    if (!env.ok) {
      input.value = input.value || body; // keep what was not sent
      show($('chat-error'), env.code === 'RATE_LIMITED' ? 'Slow down a little.' : env.err);
    } else {
      show($('chat-error'), '');
      addMessage(env.res); // the room push brings it too; the id keeps it single
    }
  });

  // --- typing notices ---------------------------------------------------------

  $('composer').addEventListener('input', () => {
    // One notice per 2 s while typing; the server says "stopped" 3 s after the last one.
    const now = Date.now();
    if (!room || !$('composer').value || now - lastTyping < 2000) return;
    lastTyping = now;
    socket.emit('chat.typing', { room });
  });

  function setTyping(name, on) {
    clearTimeout(typing.get(name));
    typing.delete(name);
    if (on) typing.set(name, setTimeout(() => setTyping(name, false), 6000));
    renderTyping();
  }

  function renderTyping() {
    const names = [...typing.keys()];
    $('typing').textContent =
      names.length === 0 ? '' : names.length === 1 ? `${names[0]} is typing…` : names.length < 4 ? `${names.join(', ')} are typing…` : 'Several people are typing…';
  }

  socket.on('chat.typing', (env) => {
    if (env.ok && env.res.room === room && env.res.name !== session?.name) setTyping(env.res.name, env.res.typing === true);
  });

  // --- connection ---------------------------------------------------------------

  let connects = 0;
  socket.on('connect', async () => {
    $('status').textContent = 'connected';
    $('status').dataset.state = 'up';
    if (connects++ === 0) {
      if (!session) return signedOut();
      // A saved session: is it still good?
      const env = await call('auth', { type: 'check', user: { name: session.name, key: session.token } });
      return env.ok && env.res.valid ? enter() : signedOut();
    }
    // socket.io rooms do not survive a reconnect: join the room again (and catch up).
    if (session && room) await switchTo(room);
  });
  socket.on('disconnect', () => {
    $('status').textContent = 'reconnecting…';
    $('status').dataset.state = 'down';
  });
  // A token renewed by the server ("remember me") arrives here.
  socket.on('auth_data', (env) => {
    if (env.ok && env.res && env.res.token && session && env.res.name === session.name) save({ name: env.res.name, token: env.res.token });
  });
})();
