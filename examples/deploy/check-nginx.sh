#!/usr/bin/env bash
# Runs examples/deploy/nginx.conf for real, on loopback ports, in front of the default app,
# and connects a socket.io client through it over TLS (WebSocket and polling).
# Needs root-free nginx (Debian: apt-get install nginx-light) and openssl; run from the repo root after `npm run build`.
set -euo pipefail
root=$(pwd)
d=$(mktemp -d /tmp/sockey-nginx.XXXXXX)
trap 'nginx -c "$d/nginx.conf" -p "$d" -s stop 2>/dev/null || true; kill "$pid" 2>/dev/null || true; rm -rf "$d"' EXIT
mkdir -p "$d/certs" "$d/app"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/certs/privkey.pem" -out "$d/certs/fullchain.pem" -days 1 -subj /CN=localhost >/dev/null 2>&1
sed "s#/etc/letsencrypt/live/chat.example.com#$d/certs#g; s#listen 443 ssl http2;#listen 127.0.0.1:18443 ssl http2;#; s#listen 80;#listen 127.0.0.1:18080;#; s#127.0.0.1:8081#127.0.0.1:18081#" \
  examples/deploy/nginx.conf > "$d/site.conf"
printf 'pid %s/nginx.pid;\nerror_log %s/error.log;\nevents {}\nhttp { access_log off; include %s/site.conf; }\n' "$d" "$d" "$d" > "$d/nginx.conf"
cp sockey.yaml "$d/app/" && cp -r app "$d/app/"
(cd "$d/app" && node "$root/bin/sockey.js" serve --port 18081 --host 127.0.0.1 --no-watch 2>"$d/sockey.log") & pid=$!
nginx -t -q -c "$d/nginx.conf" -p "$d"
nginx -c "$d/nginx.conf" -p "$d"
sleep 1
node --no-warnings --input-type=module -e "
import { io } from 'socket.io-client';
for (const transport of ['websocket', 'polling']) {
  const s = io('https://127.0.0.1:18443', { transports: [transport], rejectUnauthorized: false });
  await new Promise((ok, ko) => { s.on('connect', ok); s.on('connect_error', ko); });
  const r = await s.timeout(3000).emitWithAck('echo', { text: 'through nginx' });
  if (!r.ok) throw new Error(JSON.stringify(r));
  console.log(transport + ': ok');
  s.close();
}
process.exit(0);
"
