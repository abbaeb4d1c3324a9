#!/bin/sh
# `npm run bench` step: install the reference proxies and loaders the bench compares against
# (nginx, HAProxy, h2load; wrk, the preferred HTTP/1.1 loader) from Debian packages when they are
# missing. Only as root with apt-get; otherwise (or when apt fails, e.g. no network) it prints a
# note and the bench skips the rows whose binary is missing. It never fails the bench.
set -u

missing=""
command -v nginx >/dev/null 2>&1 || missing="$missing nginx-light"
command -v haproxy >/dev/null 2>&1 || missing="$missing haproxy"
command -v h2load >/dev/null 2>&1 || missing="$missing nghttp2-client"
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "bench: not installing$missing (needs root and apt-get); the rows that need them are skipped" >&2
  exit 0
fi

echo "bench: installing$missing (Debian packages)…" >&2
export DEBIAN_FRONTEND=noninteractive
# A stale package index is the usual reason an install fails: refresh it once and retry.
# shellcheck disable=SC2086
if ! apt-get install -y -q --no-install-recommends $missing >/dev/null; then
  apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null \
    || echo "bench: could not install$missing; the rows that need them are skipped" >&2
fi
exit 0
