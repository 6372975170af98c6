#!/bin/sh
# flask-nginx: put a renewed certificate live. certbot runs this as a deploy
# hook after a renewal; certbot.service runs it with --if-pending after every
# run. Nginx is checked first and reloaded (never restarted). When the check
# fails, the renewal stays pending: the failure goes to the journal, the run
# exits non-zero (certbot.service shows as failed), and every later certbot
# run tries again until Nginx accepts its configuration.
set -u
pending=/var/lib/flask-nginx/nginx-reload-pending
if [ "${1:-}" = --if-pending ] && [ ! -e "$pending" ]; then
  exit 0
fi
if check=$(nginx -t 2>&1) && systemctl reload nginx; then
  rm -f "$pending"
  exit 0
fi
mkdir -p "${pending%/*}"
date -u +%FT%TZ >"$pending"
message="flask-nginx: a renewed certificate is NOT live: nginx -t failed; retried after every certbot run. $check"
echo "$message" >&2
logger -p daemon.err -t flask-nginx -- "$message" 2>/dev/null || true
exit 1
