#!/usr/bin/env node
// The cluster benchmark's hand-written node (bench/cluster.js): socket.io with one of
// the two Redis adapters, and the events of the sockey side by hand (room.join,
// room.send to room r as room.send_data, echo). Two of these on one Redis and prefix
// make a hand-written cluster, to compare the adapters without sockey in the way.
//
//   node bench/cluster-pair.js --adapter streams|pubsub --redis redis://127.0.0.1:6379 --prefix p --port 0
//
// Prints `listening on <port>` on stdout when ready; closes on SIGINT/SIGTERM.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter';
import { createAdapter as createPubSubAdapter } from '@socket.io/redis-adapter';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    adapter: { type: 'string', default: 'streams' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    prefix: { type: 'string', default: 'sockey_bench' },
  },
});
if (values.adapter !== 'streams' && values.adapter !== 'pubsub') {
  console.error(`--adapter must be streams or pubsub, got "${values.adapter}"`);
  process.exit(2);
}

const client = createClient({ url: values.redis });
client.on('error', (e) => console.error(`redis: ${e.message}`));
await client.connect();
const clients = [client];
let adapter;
if (values.adapter === 'streams') {
  // The options sockey gives it (src/cluster/link.ts).
  adapter = createStreamsAdapter(client, {
    streamName: `${values.prefix}:stream`,
    channelPrefix: `${values.prefix}:io`,
    sessionKeyPrefix: `${values.prefix}:session:`,
    blockTimeInMs: 1000,
  });
} else {
  const sub = client.duplicate();
  sub.on('error', (e) => console.error(`redis: ${e.message}`));
  await sub.connect();
  clients.push(sub);
  adapter = createPubSubAdapter(client, sub, { key: `${values.prefix}:io` });
}

const http = createServer();
const io = new Server(http, { adapter });
const envelope = (res) => ({ ok: true, err: false, res });
io.on('connection', (socket) => {
  socket.on('room.join', (_p, ack) => {
    socket.join('r');
    if (typeof ack === 'function') ack(envelope({ joined: 'r' }));
  });
  socket.on('room.send', (p, ack) => {
    const env = envelope(p);
    io.to('r').emit('room.send_data', env);
    if (typeof ack === 'function') ack(env);
  });
  socket.on('echo', (p, ack) => {
    if (typeof ack === 'function') ack(envelope(p));
  });
});

http.listen(Number(values.port), values.host, () => console.log(`listening on ${http.address().port}`));
const stop = () => {
  io.close(() => {
    for (const c of clients) c.destroy();
    process.exit(0);
  });
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
