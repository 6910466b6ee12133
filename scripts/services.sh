#!/usr/bin/env bash
# Starts the real services the integration tests need, idempotently:
#   - PostgreSQL (Debian's packages, own cluster in .services/pg), 127.0.0.1:55432
#   - Apache Kafka 4.x single node in KRaft mode (jars from Maven Central), 127.0.0.1:59092
#
# Usage: scripts/services.sh [start|stop|status|env|pg-start|pg-stop|pg-restart|kafka-start|kafka-stop|kafka-restart]
#   start (default)  start both (installs/downloads what is missing), wait until both answer
#   stop             stop both (idempotent)
#   status           print whether each is up (exit 0 only if both are up)
#   env              print the export lines for the tests:  eval "$(scripts/services.sh env)"
#   pg-restart       restart PostgreSQL (fast shutdown: clients are disconnected)
#   kafka-stop / kafka-start / pg-stop / pg-start / kafka-restart
#
# Environment overrides:
#   CASHBACK_PG_PORT (55432), CASHBACK_KAFKA_PORT (59092),
#   CASHBACK_KAFKA_CONTROLLER_PORT (CASHBACK_KAFKA_PORT+1),
#   CASHBACK_SERVICES_DIR (<repo>/.services), CASHBACK_SERVICES_TIMEOUT (120 seconds),
#   CASHBACK_KAFKA_HEAP (512m), CASHBACK_PYTHON (a python with kafka-python for the check)
#
# Runs as root (PostgreSQL itself runs as the `postgres` OS user) or as an ordinary user
# that can run PostgreSQL directly.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
SERVICES_DIR="${CASHBACK_SERVICES_DIR:-$ROOT/.services}"
TIMEOUT="${CASHBACK_SERVICES_TIMEOUT:-120}"

PG_PORT="${CASHBACK_PG_PORT:-55432}"
PG_DSN="postgresql://cashback:cashback@127.0.0.1:${PG_PORT}/cashback"

KAFKA_PORT="${CASHBACK_KAFKA_PORT:-59092}"
KAFKA_CONTROLLER_PORT="${CASHBACK_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_BOOTSTRAP="127.0.0.1:${KAFKA_PORT}"
KAFKA_HEAP="${CASHBACK_KAFKA_HEAP:-512m}"
KAFKA_HOME="$SERVICES_DIR/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_DATA="$KAFKA_HOME/data"
KAFKA_PROPS="$KAFKA_HOME/server.properties"
KAFKA_LOG4J="$KAFKA_HOME/log4j2.properties"
KAFKA_LOG="$KAFKA_HOME/kafka.log"
KAFKA_PID="$KAFKA_HOME/kafka.pid"
KAFKA_POM="$SCRIPT_DIR/kafka-pom.xml"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "cannot install $* : no apt-get on this machine"
    [ "$(id -u)" = 0 ] || die "cannot install $* : not root"
    if [ "$APT_UPDATED" = 0 ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------
PG_BIN=""
find_pg_bin() {
    local initdb
    initdb="$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$initdb" ]; then PG_BIN="$(dirname "$initdb")"; return 0; fi
    return 1
}

ensure_pg_installed() {
    find_pg_bin && return 0
    apt_install postgresql
    find_pg_bin || die "PostgreSQL installed but no /usr/lib/postgresql/*/bin/initdb found"
}

# The OS user that owns and runs the cluster: `postgres` when we are root (PostgreSQL refuses
# to run as root), else ourselves.
PG_OS_USER=""
as_pg() {
    # Run a command as the cluster owner, from a directory it can read, without the lock fd.
    if [ "$PG_OS_USER" = "$(id -un)" ]; then
        (cd "$PG_HOME" && exec "$@" 9>&-)
    else
        (cd "$PG_HOME" && exec runuser -u "$PG_OS_USER" -- "$@" 9>&-)
    fi
}

# PG_HOME holds data/, the unix socket and the server log. It is .services/pg unless the
# postgres user cannot reach it (e.g. a clone under /root, mode 700) or the socket path
# would be too long for a unix socket (107 bytes); then a directory under /var/tmp is used.
PG_HOME=""
resolve_pg_home() {
    PG_HOME="$SERVICES_DIR/pg"
    if [ "$(id -u)" = 0 ]; then PG_OS_USER="postgres"; else PG_OS_USER="$(id -un)"; fi
    local fallback
    fallback="/var/tmp/cashback-services-$(printf '%s' "$SERVICES_DIR" | cksum | cut -d' ' -f1)/pg"
    if [ -L "$PG_HOME" ]; then PG_HOME="$(readlink -f "$PG_HOME")"; return 0; fi  # redirected earlier
    if [ $(( ${#PG_HOME} + 20 )) -gt 100 ]; then PG_HOME="$fallback"; return 0; fi
    if [ "$PG_OS_USER" = "postgres" ] && id postgres >/dev/null 2>&1 && [ -d "$SERVICES_DIR" ]; then
        if ! runuser -u postgres -- test -x "$SERVICES_DIR"; then PG_HOME="$fallback"; fi
    fi
}

ensure_pg_os_user() {
    [ "$PG_OS_USER" = "postgres" ] || return 0
    id postgres >/dev/null 2>&1 && return 0
    log "creating OS user postgres"
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
}

pg_ready() {
    command -v pg_isready >/dev/null 2>&1 || { [ -n "$PG_BIN" ] || find_pg_bin; } || return 1
    local isready="pg_isready"
    [ -n "$PG_BIN" ] && [ -x "$PG_BIN/pg_isready" ] && isready="$PG_BIN/pg_isready"
    "$isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -t 2 >/dev/null 2>&1
}

pg_write_config() {
    local data="$PG_HOME/data"
    if ! grep -q "^include_if_exists = 'cashback.conf'" "$data/postgresql.conf"; then
        printf "\n# added by scripts/services.sh\ninclude_if_exists = 'cashback.conf'\n" >>"$data/postgresql.conf"
    fi
    cat >"$data/cashback.conf" <<EOF
# generated by scripts/services.sh on every start; edit the script, not this file
listen_addresses = '127.0.0.1'
port = $PG_PORT
max_connections = 200
unix_socket_directories = '$PG_HOME'
EOF
    cat >"$data/pg_hba.conf" <<'EOF'
# generated by scripts/services.sh: test cluster, trust on loopback only
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
host    all       all   ::1/128       trust
EOF
    chown "$PG_OS_USER:" "$data/cashback.conf" "$data/pg_hba.conf"
}

pg_init() {
    local data="$PG_HOME/data"
    mkdir -p "$PG_HOME"
    if [ "$PG_HOME" != "$SERVICES_DIR/pg" ] && [ ! -e "$SERVICES_DIR/pg" ]; then
        ln -s "$PG_HOME" "$SERVICES_DIR/pg"     # so .services/pg/... is where one looks
    fi
    chown "$PG_OS_USER:" "$PG_HOME"
    chmod 0755 "$PG_HOME"
    if [ -f "$data/PG_VERSION" ]; then
        local have want
        have="$(cat "$data/PG_VERSION")"
        want="$(basename "$(dirname "$PG_BIN")")"
        if [ "$have" != "$want" ]; then
            [ -x "/usr/lib/postgresql/$have/bin/postgres" ] || die \
                "$data was made by PostgreSQL $have but only $want is installed; remove $PG_HOME to start afresh"
            PG_BIN="/usr/lib/postgresql/$have/bin"
        fi
        return 0
    fi
    if [ -e "$data" ]; then
        log "removing incomplete PostgreSQL data directory $data"
        rm -rf "$data"
    fi
    log "initdb $data"
    mkdir -p "$data"
    chown "$PG_OS_USER:" "$data"
    chmod 0700 "$data"
    as_pg "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$PG_HOME/initdb.log" 2>&1 \
        || { tail -n 30 "$PG_HOME/initdb.log" >&2; die "initdb failed"; }
}

is_zombie() {  # pid
    [ -r "/proc/$1/stat" ] && [ "$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null)" = "Z" ]
}

alive() {  # pid: running and not a zombie (kill -0 succeeds on zombies)
    [ -e "/proc/$1" ] && ! is_zombie "$1"
}

wait_reaped() {  # pid: a killed server stays a zombie until its parent (pid 1 here) reaps it,
    # and PostgreSQL takes a zombie's pid in its lock files for a live postmaster.
    local pid="$1" n=0
    while is_zombie "$pid" && [ "$n" -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    if is_zombie "$pid"; then log "warning: pid $pid is still an unreaped zombie"; fi
    return 0
}

pg_remove_stale_pid() {
    # After a kill -9 the postmaster stays a zombie until pid 1 reaps it, and PostgreSQL takes
    # a zombie's (or a reused) pid in postmaster.pid / the socket lock for a live postmaster.
    # Wait for the zombie; remove the lock files only if the pid is still taken by something
    # that is not a postmaster. A dead pid is left to PostgreSQL, which then also checks that
    # no orphaned backend still uses the old shared memory.
    local pidfile="$PG_HOME/data/postmaster.pid" pid
    [ -f "$pidfile" ] || return 0
    pid="$(head -n 1 "$pidfile" 2>/dev/null || true)"
    [ -n "$pid" ] || { rm -f "$pidfile"; return 0; }
    wait_reaped "$pid"
    [ -e "/proc/$pid" ] || return 0
    if ! is_zombie "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q postgres; then
        return 0
    fi
    log "removing stale $pidfile (pid $pid is not a postmaster)"
    rm -f "$pidfile"
    local socklock="$PG_HOME/.s.PGSQL.$PG_PORT.lock"
    if [ -f "$socklock" ] && [ "$(head -n 1 "$socklock" 2>/dev/null)" = "$pid" ]; then
        rm -f "$socklock" "$PG_HOME/.s.PGSQL.$PG_PORT"
    fi
}

pg_ensure_role_db() {
    local psql="psql"
    [ -x "$PG_BIN/psql" ] && psql="$PG_BIN/psql"
    "$psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres >/dev/null <<'EOF'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cashback') THEN
    CREATE ROLE cashback LOGIN SUPERUSER PASSWORD 'cashback';
  END IF;
END
$$;
SELECT 'CREATE DATABASE cashback OWNER cashback'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'cashback')\gexec
EOF
}

pg_start() {
    if pg_ready; then
        log "PostgreSQL already up on 127.0.0.1:$PG_PORT"
        [ -n "$PG_BIN" ] || find_pg_bin || true
        pg_ensure_role_db || die "PostgreSQL on port $PG_PORT answers but the cashback role/database could not be ensured (someone else's server on that port?)"
        return 0
    fi
    ensure_pg_installed
    ensure_pg_os_user
    mkdir -p "$SERVICES_DIR"
    resolve_pg_home
    pg_init
    pg_write_config
    pg_remove_stale_pid
    log "starting PostgreSQL ($PG_BIN) on 127.0.0.1:$PG_PORT"
    # a few tries: after a crash, orphaned backends may hold the old shared memory a moment
    local try
    for try in 1 2 3 4 5; do
        if as_pg "$PG_BIN/pg_ctl" -D "$PG_HOME/data" -l "$PG_HOME/postgres.log" -w -t "$TIMEOUT" start >/dev/null; then
            break
        fi
        if [ "$try" = 5 ]; then
            log "--- tail of $PG_HOME/postgres.log ---"
            tail -n 40 "$PG_HOME/postgres.log" >&2 || true
            die "PostgreSQL did not start"
        fi
        log "PostgreSQL did not start (try $try); retrying"
        sleep 2
        pg_remove_stale_pid
    done
    pg_wait
    pg_ensure_role_db || die "could not create the cashback role/database"
}

pg_wait() {
    local deadline=$((SECONDS + TIMEOUT))
    until pg_ready; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "--- tail of $PG_HOME/postgres.log ---"
            tail -n 40 "$PG_HOME/postgres.log" >&2 || true
            die "PostgreSQL not answering on 127.0.0.1:$PG_PORT after ${TIMEOUT}s"
        fi
        sleep 0.5
    done
}

pg_stop() {
    resolve_pg_home
    find_pg_bin || { log "PostgreSQL not installed"; return 0; }
    if [ -f "$PG_HOME/data/postmaster.pid" ]; then
        pg_remove_stale_pid
    fi
    if [ -f "$PG_HOME/data/postmaster.pid" ]; then
        log "stopping PostgreSQL"
        as_pg "$PG_BIN/pg_ctl" -D "$PG_HOME/data" -m fast -w -t "$TIMEOUT" stop >/dev/null
    else
        log "PostgreSQL not running (from $PG_HOME)"
    fi
}

pg_restart() {
    resolve_pg_home
    find_pg_bin || die "PostgreSQL not installed; run start first"
    if [ -f "$PG_HOME/data/postmaster.pid" ]; then pg_remove_stale_pid; fi
    if [ -f "$PG_HOME/data/postmaster.pid" ]; then
        log "restarting PostgreSQL"
        pg_write_config
        as_pg "$PG_BIN/pg_ctl" -D "$PG_HOME/data" -l "$PG_HOME/postgres.log" -m fast -w -t "$TIMEOUT" restart >/dev/null \
            || { tail -n 40 "$PG_HOME/postgres.log" >&2; die "PostgreSQL restart failed"; }
        pg_wait
    else
        pg_start
    fi
}

# ---------------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------------
ensure_java() {
    if ! command -v java >/dev/null 2>&1; then apt_install openjdk-17-jre-headless; fi
    local major
    major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | head -n 1)"
    major="${major#1.}"
    [ -n "$major" ] && [ "${major%%.*}" -ge 17 ] || die "Kafka 4.x needs Java 17 or newer; java is $major"
}

kafka_libs_ready() {
    # .complete holds the checksum of the pom the libs came from: a changed pom re-downloads.
    [ -f "$KAFKA_LIBS/.complete" ] && [ "$(cat "$KAFKA_LIBS/.complete")" = "$(cksum <"$KAFKA_POM")" ]
}

kafka_download() {
    kafka_libs_ready && return 0
    command -v mvn >/dev/null 2>&1 || apt_install maven
    local tmp="$KAFKA_HOME/libs.tmp"
    rm -rf "$tmp"
    mkdir -p "$KAFKA_HOME"
    log "downloading Kafka broker jars with Maven into $KAFKA_LIBS"
    if ! mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies \
            -DoutputDirectory="$tmp" -DincludeScope=runtime >"$KAFKA_HOME/mvn.log" 2>&1; then
        tail -n 40 "$KAFKA_HOME/mvn.log" >&2
        die "mvn could not fetch the Kafka jars"
    fi
    ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "no kafka_2.13 jar after mvn (see $KAFKA_HOME/mvn.log)"
    cksum <"$KAFKA_POM" >"$tmp/.complete"
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
}

kafka_write_config() {
    mkdir -p "$KAFKA_DATA"
    cat >"$KAFKA_PROPS" <<EOF
# generated by scripts/services.sh on every start; edit the script, not this file
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${KAFKA_CONTROLLER_PORT}
listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${KAFKA_DATA}
num.partitions=4
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# a broker killed with -9 keeps its old registration until the session times out (default 9 s);
# shorter so that a restart after a crash is quick (loopback, single node: heartbeats are cheap)
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=4000
EOF
    cat >"$KAFKA_LOG4J" <<'EOF'
# generated by scripts/services.sh: everything goes to stdout, which is .services/kafka/kafka.log
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
# the full config dumps of every client/server are long and useless here
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.appinfo.name = org.apache.kafka.common.utils.AppInfoParser
logger.appinfo.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
}

kafka_java() {
    java -Xmx"$KAFKA_HEAP" -Xms128m -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$KAFKA_LOG4J" -Dkafka.logs.dir="$KAFKA_HOME" \
        -cp "$KAFKA_LIBS/*" "$@"
}

kafka_format() {
    [ -f "$KAFKA_DATA/meta.properties" ] && return 0
    local cluster_id
    if grep -qxE '[A-Za-z0-9_-]{22}' "$KAFKA_HOME/cluster.id" 2>/dev/null; then
        cluster_id="$(cat "$KAFKA_HOME/cluster.id")"
    else
        cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid 2>"$KAFKA_HOME/format.log" | tail -n 1 || true)"
        if ! printf '%s\n' "$cluster_id" | grep -qxE '[A-Za-z0-9_-]{22}'; then
            printf '%s\n' "$cluster_id" >>"$KAFKA_HOME/format.log"
            tail -n 30 "$KAFKA_HOME/format.log" >&2
            die "kafka StorageTool random-uuid failed"
        fi
        printf '%s\n' "$cluster_id" >"$KAFKA_HOME/cluster.id"
    fi
    rm -rf "$KAFKA_DATA"
    mkdir -p "$KAFKA_DATA"
    log "formatting KRaft storage $KAFKA_DATA (cluster id $cluster_id)"
    kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_PROPS" >"$KAFKA_HOME/format.log" 2>&1 \
        || { tail -n 30 "$KAFKA_HOME/format.log" >&2; die "kafka storage format failed"; }
}

# The pid of our broker: from the pid file if that process is a broker using our config, else
# any broker process whose command line names our server.properties (pid file lost).
kafka_pid() {
    local pid=""
    if [ -f "$KAFKA_PID" ]; then
        pid="$(cat "$KAFKA_PID" 2>/dev/null || true)"
        if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] \
                && tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF "$KAFKA_PROPS"; then
            echo "$pid"; return 0
        fi
    fi
    pid="$(pgrep -f -- "kafka.Kafka $KAFKA_PROPS" 2>/dev/null | head -n 1 || true)"
    [ -n "$pid" ] && { echo "$pid"; return 0; }
    return 1
}

tcp_open() {  # host port
    (exec 3<>"/dev/tcp/$1/$2") >/dev/null 2>&1
}

# The Python that runs the readiness check: the first of $CASHBACK_PYTHON, the project's
# .venv and python3 that has kafka-python; without one, an open port has to do.
CHECK_PYTHON=""
pick_check_python() {
    [ -z "$CHECK_PYTHON" ] || return 0
    local py
    CHECK_PYTHON="python3"
    for py in "${CASHBACK_PYTHON:-}" "$ROOT/.venv/bin/python" python3; do
        [ -n "$py" ] || continue
        if "$py" -c 'import kafka' >/dev/null 2>&1; then CHECK_PYTHON="$py"; break; fi
    done
}

kafka_answers() {
    local err=/dev/null
    [ -d "$KAFKA_HOME" ] && err="$KAFKA_HOME/check.err"
    tcp_open 127.0.0.1 "$KAFKA_PORT" || { echo "port $KAFKA_PORT closed" >"$err"; return 1; }
    pick_check_python
    "$CHECK_PYTHON" - "$KAFKA_BOOTSTRAP" <<'EOF' >/dev/null 2>"$err"
import sys
try:
    from kafka import KafkaAdminClient
except ImportError:
    sys.exit(0)        # no kafka-python: the open port has to do
wanted = {"bootstrap_servers": sys.argv[1], "client_id": "services-check",
          "request_timeout_ms": 5000,
          "bootstrap_timeout_ms": 5000,          # kafka-python 3.x
          "api_version_auto_timeout_ms": 5000}   # kafka-python 2.x
known = getattr(KafkaAdminClient, "DEFAULT_CONFIG", wanted)
admin = KafkaAdminClient(**{k: v for k, v in wanted.items() if k in known})
try:
    admin.list_topics()
    # the broker has registered with the controller and is unfenced
    brokers = admin.describe_cluster().get("brokers") or []
    if not any(not b.get("is_fenced", False) for b in brokers):
        sys.exit("no unfenced broker yet")
finally:
    admin.close()
EOF
}

kafka_log_tail() {
    log "--- errors in $KAFKA_LOG ---"
    grep -E '^\[.*\] (ERROR|FATAL)|^Caused by:' "$KAFKA_LOG" 2>/dev/null | tail -n 15 >&2 || true
    log "--- tail of $KAFKA_LOG ---"
    tail -n 40 "$KAFKA_LOG" >&2 || true
}

kafka_wait() {
    local pid="$1" deadline=$((SECONDS + TIMEOUT))
    until kafka_answers; do
        if ! alive "$pid"; then
            kafka_log_tail
            rm -f "$KAFKA_PID"
            die "Kafka broker (pid $pid) exited during start-up"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            kafka_log_tail
            log "--- last readiness check ---"
            tail -n 5 "$KAFKA_HOME/check.err" >&2 || true
            die "Kafka not answering on $KAFKA_BOOTSTRAP after ${TIMEOUT}s (pid $pid still running)"
        fi
        sleep 1
    done
}

kafka_start() {
    local pid
    if pid="$(kafka_pid)"; then
        echo "$pid" >"$KAFKA_PID"
        if kafka_answers; then
            log "Kafka already up on $KAFKA_BOOTSTRAP (pid $pid)"
            return 0
        fi
        log "Kafka broker pid $pid is running; waiting for it to answer"
        kafka_wait "$pid"
        return 0
    fi
    rm -f "$KAFKA_PID"
    if tcp_open 127.0.0.1 "$KAFKA_PORT"; then
        die "port $KAFKA_PORT is taken by a process that is not this project's broker; set CASHBACK_KAFKA_PORT"
    fi
    ensure_java
    kafka_download
    kafka_write_config
    kafka_format
    [ -f "$KAFKA_LOG" ] && mv -f "$KAFKA_LOG" "$KAFKA_LOG.1"
    log "starting Kafka broker on $KAFKA_BOOTSTRAP (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT)"
    (
        cd "$KAFKA_HOME"
        exec 9>&-          # do not hand the services lock to the broker
        exec nohup java -Xmx"$KAFKA_HEAP" -Xms128m -Djava.awt.headless=true \
            -Dlog4j2.configurationFile="$KAFKA_LOG4J" -Dkafka.logs.dir="$KAFKA_HOME" \
            -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS" </dev/null >"$KAFKA_LOG" 2>&1
    ) &
    pid=$!
    echo "$pid" >"$KAFKA_PID"
    kafka_wait "$pid"
    log "Kafka up (pid $pid)"
}

kafka_stop() {
    local pid
    if ! pid="$(kafka_pid)"; then
        rm -f "$KAFKA_PID"
        log "Kafka not running"
        return 0
    fi
    log "stopping Kafka (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 60))
    while alive "$pid"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "Kafka did not stop in 60s; kill -9"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.5
    done
    rm -f "$KAFKA_PID"
}

# ---------------------------------------------------------------------------------------------
ensure_gitignored() {
    # .services/ must never be committed (it is in the repo's .gitignore; this guards a
    # custom CASHBACK_SERVICES_DIR inside the repo too).
    mkdir -p "$SERVICES_DIR"
    [ -f "$SERVICES_DIR/.gitignore" ] || printf '*\n' >"$SERVICES_DIR/.gitignore"
}

with_lock() {
    mkdir -p "$SERVICES_DIR"
    exec 9>"$SERVICES_DIR/.lock"
    if command -v flock >/dev/null 2>&1; then flock 9; fi
}

cmd_env() {
    echo "export CASHBACK_PG_DSN=$PG_DSN"
    echo "export CASHBACK_KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP"
}

cmd_status() {
    local rc=0 pid
    if pg_ready; then echo "postgresql: up   127.0.0.1:$PG_PORT ($PG_DSN)"; else echo "postgresql: down 127.0.0.1:$PG_PORT"; rc=1; fi
    if pid="$(kafka_pid)" && kafka_answers; then
        echo "kafka:      up   $KAFKA_BOOTSTRAP (pid $pid)"
    elif kafka_answers; then
        echo "kafka:      up   $KAFKA_BOOTSTRAP (not started by this script)"
    else
        echo "kafka:      down $KAFKA_BOOTSTRAP${pid:+ (pid $pid running, not answering)}"; rc=1
    fi
    return "$rc"
}

main() {
    local cmd="${1:-start}"
    case "$cmd" in
        start)
            with_lock; ensure_gitignored
            local t0=$SECONDS
            pg_start
            kafka_start
            log "services up in $((SECONDS - t0))s"
            cmd_env ;;
        stop)          with_lock; kafka_stop; pg_stop ;;
        status)        cmd_status ;;
        env)           cmd_env ;;
        pg-start)      with_lock; ensure_gitignored; pg_start ;;
        pg-stop)       with_lock; pg_stop ;;
        pg-restart)    with_lock; pg_restart ;;
        kafka-start)   with_lock; ensure_gitignored; kafka_start ;;
        kafka-stop)    with_lock; kafka_stop ;;
        kafka-restart) with_lock; kafka_stop; kafka_start ;;
        -h|--help|help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' ;;
        *) die "unknown command '$cmd' (start|stop|status|env|pg-start|pg-stop|pg-restart|kafka-start|kafka-stop|kafka-restart)" ;;
    esac
}

main "$@"
