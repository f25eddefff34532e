#!/usr/bin/env bash
# Runs examples/deploy/nginx-cluster.conf for real, on loopback ports, in front of two sockey
# nodes of one app (`cluster:` on the local Redis, one SQLite file), and checks through it over
# TLS that polling clients stick to a node and that an emit from one node reaches the other.
# Needs nginx (Debian: apt-get install nginx-light), openssl and Redis on 127.0.0.1:6379; run
# from the repo root after `npm run build`.
set -euo pipefail
root=$(pwd)
d=$(mktemp -d /tmp/sockey-nginx-cluster.XXXXXX)
prefix="sockey_check_$$"
pids=()
cleanup() {
  nginx -c "$d/nginx.conf" -p "$d" -s stop 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  redis-cli --scan --pattern "$prefix:*" | xargs -r redis-cli del >/dev/null || true
  rm -rf "$d"
}
trap cleanup EXIT
mkdir -p "$d/certs" "$d/app"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/certs/privkey.pem" -out "$d/certs/fullchain.pem" -days 1 -subj /CN=localhost >/dev/null 2>&1
sed "s#/etc/letsencrypt/live/chat.example.com#$d/certs#g; s#listen 443 ssl http2;#listen 127.0.0.1:18443 ssl http2;#; s#listen 80;#listen 127.0.0.1:18080;#; s#127.0.0.1:8081#127.0.0.1:18081#; s#127.0.0.1:8082#127.0.0.1:18082#" \
  examples/deploy/nginx-cluster.conf > "$d/site.conf"
printf 'pid %s/nginx.pid;\nerror_log %s/error.log;\nevents {}\nhttp { access_log off; include %s/site.conf; }\n' "$d" "$d" "$d" > "$d/nginx.conf"
cat > "$d/app/sockey.yaml" <<YAML
version: 1
server: { trustProxy: 1 }
database: { file: ./data.db }
cluster: { redis: "redis://127.0.0.1:6379", prefix: $prefix }
routes:
  node:
    hook: ./node.mjs#node
  say:
    params: { type: object, properties: { text: { type: string } }, required: [text] }
    reply: { text: "{{params.text}}" }
    emit: all
YAML
echo 'export const node = () => ({ port: process.env.SOCKEY_PORT });' > "$d/app/node.mjs"
for port in 18081 18082; do
  (cd "$d/app" && SOCKEY_PORT=$port exec node "$root/bin/sockey.js" serve --host 127.0.0.1 --no-watch 2>"$d/sockey-$port.log") & pids+=($!)
done
nginx -t -q -c "$d/nginx.conf" -p "$d"
nginx -c "$d/nginx.conf" -p "$d"
for _ in $(seq 1 50); do curl -skf https://127.0.0.1:18443/healthz >/dev/null && break; sleep 0.2; done
node --no-warnings --input-type=module -e "
import { io } from 'socket.io-client';
const url = 'https://127.0.0.1:18443';
const open = (port) => new Promise((ok, ko) => {
  const s = io(port ? 'http://127.0.0.1:' + port : url, { transports: port ? ['websocket'] : ['polling'], rejectUnauthorized: false, forceNew: true });
  s.on('connect', () => ok(s)); s.on('connect_error', ko);
});
// Through nginx by polling: every request of the client reaches one node.
const polling = await open();
const ports = new Set();
for (let i = 0; i < 5; i++) ports.add((await polling.timeout(3000).emitWithAck('node')).res.port);
if (ports.size !== 1) throw new Error('polling requests reached several nodes: ' + [...ports]);
const mine = [...ports][0];
const other = mine === '18081' ? 18082 : 18081;
// A client straight on the other node hears what the polling client emits, through Redis.
const direct = await open(other);
const heard = new Promise((ok) => direct.on('say_data', (e) => e.res.text === 'across' && ok()));
await polling.timeout(3000).emitWithAck('say', { text: 'across' });
await Promise.race([heard, new Promise((_, ko) => setTimeout(() => ko(new Error('not delivered across nodes')), 3000))]);
console.log('polling client pinned to :' + mine + ', its emit reached :' + other + ': ok');
process.exit(0);
"
