#!/bin/sh
# certbot deploy hook (flask-nginx): runs after a certificate was renewed.
# Reload (not restart) Nginx so it serves the new certificate; check first so
# a broken configuration elsewhere never takes the site down.
set -e
nginx -t -q
systemctl reload nginx
