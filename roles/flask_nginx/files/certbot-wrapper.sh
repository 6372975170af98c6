#!/bin/sh
# flask-nginx: run certbot trusting the system's CAs plus the private ACME CA of
# the certificate's own app (flask_nginx_acme_ca_bundle, kept as
# /etc/flask-nginx/acme-ca.d/APP.pem; the certificate is named after its app).
# Only certbot trusts it, and only for that app's certificate: the host's trust
# store stays as it is, and one app's private CA is never trusted for another's
# CA. Used by the role and by certbot.timer's service (drop-in), so renewals
# trust the same CA as the first order.
#   With --cert-name NAME: one run, trusting NAME's CA.
#   `renew` without it (the timer): one run per certificate, each trusting its
#   own app's CA; the worst exit status wins.
set -eu
certbot=${FLASK_NGINX_CERTBOT:-/usr/bin/certbot}
cas=${FLASK_NGINX_ACME_CA_DIR:-/etc/flask-nginx/acme-ca.d}
renewal=${FLASK_NGINX_RENEWAL_DIR:-/etc/letsencrypt/renewal}
system=/etc/ssl/certs/ca-certificates.crt

# run NAME ARGS...: certbot ARGS with the system's CAs and NAME's private CA.
run() {
  name=$1
  shift
  bundle=$(mktemp "${TMPDIR:-/run}/flask-nginx-acme-ca.XXXXXX")
  cat "$system" >"$bundle"
  case $name in
    */* | .* | '') ;;
    *) if [ -e "$cas/$name.pem" ]; then cat "$cas/$name.pem" >>"$bundle"; fi ;;
  esac
  status=0
  REQUESTS_CA_BUNDLE=$bundle "$certbot" "$@" || status=$?
  rm -f "$bundle"
  return "$status"
}

name=
renew=false
previous=
for arg in "$@"; do
  case $arg in
    --cert-name=*) name=${arg#--cert-name=} ;;
    renew) renew=true ;;
  esac
  if [ "$previous" = --cert-name ]; then name=$arg; fi
  previous=$arg
done

if [ -n "$name" ] || [ "$renew" = false ]; then
  run "$name" "$@"
  exit $?
fi

worst=0
for conf in "$renewal"/*.conf; do
  [ -e "$conf" ] || continue
  lineage=$(basename "$conf" .conf)
  run "$lineage" "$@" --cert-name "$lineage" || worst=$?
done
exit "$worst"
