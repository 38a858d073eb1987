#!/usr/bin/env bash
# PostgreSQL 15 with pgvector 0.8.0, for the PostgreSQL store and its tests (idempotent; needs root or sudo).
# pgvector is built from Debian's own source package (the next release's 0.8.0), checked by its SHA-256.
set -euo pipefail
PGVECTOR=0.8.0
SHA256=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] || [ ! -f /usr/include/postgresql/15/server/postgres.h ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql-15 postgresql-server-dev-15 >/dev/null
fi
if [ ! -f "$($PG_CONFIG --sharedir)/extension/vector--$PGVECTOR.sql" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  curl -fsS -m 120 -o "$work/pgvector.tar.gz" \
    "http://deb.debian.org/debian/pool/main/p/pgvector/pgvector_$PGVECTOR.orig.tar.gz"
  echo "$SHA256  $work/pgvector.tar.gz" | sha256sum -c --quiet
  tar -xzf "$work/pgvector.tar.gz" -C "$work"
  make -s -C "$work/pgvector-$PGVECTOR" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" >/dev/null
  $SUDO make -s -C "$work/pgvector-$PGVECTOR" PG_CONFIG="$PG_CONFIG" install >/dev/null
fi
echo "PostgreSQL $($PG_CONFIG --version | cut -d' ' -f2) with pgvector $PGVECTOR: ready"
