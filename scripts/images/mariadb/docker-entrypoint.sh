#!/bin/sh
# Entrypoint of the test cluster's MariaDB image, compatible with the official mysql/mariadb
# images' environment: MYSQL_ROOT_PASSWORD (or MYSQL_ALLOW_EMPTY_PASSWORD / MYSQL_RANDOM_ROOT_PASSWORD),
# MYSQL_ROOT_HOST (default %), MYSQL_DATABASE, MYSQL_USER + MYSQL_PASSWORD, and
# /docker-entrypoint-initdb.d/*.sql|*.sh on first start. Arguments starting with "-" go to mariadbd.
# Runs as root: initialises and chowns the data dir, then mariadbd drops to the mysql user itself.
set -eu

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case "${1:-}" in -*) set -- mariadbd "$@" ;; "") set -- mariadbd ;; esac
case "$1" in mariadbd | mysqld) ;; *) exec "$@" ;; esac

# SQL string literal: single quotes doubled, backslashes escaped
sql_str() { printf "'%s'" "$(printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/''/g")"; }
sql_id() { printf '`%s`' "$(printf '%s' "$1" | sed -e 's/`/``/g')"; }

mkdir -p /run/mysqld "$DATADIR"
chown mysql:mysql /run/mysqld
if [ "$(id -u)" = 0 ]; then chown mysql:mysql "$DATADIR"; fi

if [ ! -d "$DATADIR/mysql" ]; then
  if [ -z "${MYSQL_ROOT_PASSWORD:-}" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ] && [ -z "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
    die "database is uninitialized and password option is not specified
    You need to specify one of MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD and MYSQL_RANDOM_ROOT_PASSWORD"
  fi
  log "initialising $DATADIR"
  mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db --skip-name-resolve \
    --auth-root-authentication-method=normal >/dev/null
  "$@" --user=mysql --skip-networking --socket="$SOCKET" &
  pid=$!
  i=0
  until mariadb-admin --socket="$SOCKET" -uroot ping >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -lt 60 ] || die "temporary server did not start"
    kill -0 "$pid" 2>/dev/null || die "temporary server exited"
    sleep 1
  done
  if [ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
    MYSQL_ROOT_PASSWORD="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
    log "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
  fi
  pw="$(sql_str "${MYSQL_ROOT_PASSWORD:-}")"
  host="$(sql_str "${MYSQL_ROOT_HOST:-%}")"
  {
    echo "SET @@SESSION.SQL_LOG_BIN=0;"
    # mariadb-install-db also makes root@127.0.0.1, root@::1 and root@<hostname> without a
    # password plugin; they would shadow root@'%' for TCP clients (the official image drops them too)
    echo "DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1';"
    echo "EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@''', @@hostname, '''');"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $pw;"
    if [ "${MYSQL_ROOT_HOST:-%}" != localhost ]; then
      echo "CREATE USER 'root'@$host IDENTIFIED BY $pw;"
      echo "GRANT ALL ON *.* TO 'root'@$host WITH GRANT OPTION;"
    fi
    if [ -n "${MYSQL_DATABASE:-}" ]; then echo "CREATE DATABASE IF NOT EXISTS $(sql_id "$MYSQL_DATABASE");"; fi
    if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
      echo "CREATE USER $(sql_str "$MYSQL_USER")@'%' IDENTIFIED BY $(sql_str "$MYSQL_PASSWORD");"
      if [ -n "${MYSQL_DATABASE:-}" ]; then
        echo "GRANT ALL ON $(sql_id "$MYSQL_DATABASE").* TO $(sql_str "$MYSQL_USER")@'%';"
      fi
    fi
    echo "FLUSH PRIVILEGES;"
  } | mariadb --socket="$SOCKET" -uroot
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    log "running $f"
    case "$f" in
      *.sh) . "$f" ;;
      *.sql) MYSQL_PWD="${MYSQL_ROOT_PASSWORD:-}" mariadb --socket="$SOCKET" -uroot ${MYSQL_DATABASE:+"$MYSQL_DATABASE"} <"$f" ;;
      *) log "ignoring $f" ;;
    esac
  done
  MYSQL_PWD="${MYSQL_ROOT_PASSWORD:-}" mariadb-admin --socket="$SOCKET" -uroot shutdown
  wait "$pid" || true
  log "initialised"
fi

exec "$@" --user=mysql
