#!/bin/sh
# flask-nginx: run certbot trusting the system's CAs plus the private ACME CAs
# in /etc/flask-nginx/acme-ca.d (flask_nginx_acme_ca_bundle). Only certbot
# trusts them: the host's trust store stays as it is. Used by the role and by
# certbot.timer's service (drop-in), so renewals trust the same CAs.
set -eu
bundle=$(mktemp /run/flask-nginx-acme-ca.XXXXXX)
trap 'rm -f "$bundle"' EXIT INT TERM
cat /etc/ssl/certs/ca-certificates.crt >"$bundle"
for ca in /etc/flask-nginx/acme-ca.d/*.pem; do
  [ -e "$ca" ] && cat "$ca" >>"$bundle"
done
REQUESTS_CA_BUNDLE=$bundle /usr/bin/certbot "$@"
