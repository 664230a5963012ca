#!/usr/bin/env bash
# `make cluster`: the seed's three terminals in one. Uses the redis-server listening on
# 127.0.0.1:6379, or starts a private one there if none listens; then brokers broker1..3 on
# ports 5001-5003 with the Kafka protocol on 9092-9094 (data in ./cluster-data/<id>), prints their URLs and curl examples, and on
# Ctrl-C stops every process it started, by PID (never a Redis it did not start).
# Usage: tests/lib/cluster.sh [path/to/brook]   (env: REDIS_PORT, BASE_PORT, DATA_ROOT,
#        KAFKA_BASE_PORT (0: no Kafka listener), LEASE_MS, RENEW_MS pass through; extra broker flags in BROOK_ARGS)
set -u

BROOK=${1:-build/brook}
REDIS_PORT=${REDIS_PORT:-6379}
BASE_PORT=${BASE_PORT:-5001}
KAFKA_BASE_PORT=${KAFKA_BASE_PORT:-9092}
DATA_ROOT=${DATA_ROOT:-./cluster-data}
LEASE_MS=${LEASE_MS:-10000}
RENEW_MS=${RENEW_MS:-5000}
BROOK_ARGS=${BROOK_ARGS:-}

pids=()
redis_pid=

die() {
    echo "cluster: $*" >&2
    exit 1
}

listening() { # port -> 0 if something accepts connections on 127.0.0.1:port
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

redis_ping() {
    if command -v redis-cli >/dev/null; then
        [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
    else
        listening "$REDIS_PORT"
    fi
}

stop_all() {
    trap - INT TERM EXIT
    echo
    echo "cluster: stopping"
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null
    done
    if [ -n "$redis_pid" ]; then
        kill -TERM "$redis_pid" 2>/dev/null
        wait "$redis_pid" 2>/dev/null
    fi
    echo "cluster: stopped"
}

[ -x "$BROOK" ] || die "no broker binary at $BROOK (build it first: make build)"
# Job control: every child gets its own process group, so a Ctrl-C in the terminal reaches only
# this script, which then stops the brokers first (they release the lease) and Redis last.
set -m
trap stop_all EXIT
trap 'exit 130' INT TERM

mkdir -p "$DATA_ROOT" || die "cannot create $DATA_ROOT"
DATA_ROOT=$(cd "$DATA_ROOT" && pwd) # absolute: redis-server resolves paths after its chdir

if listening "$REDIS_PORT"; then
    redis_ping || die "something listens on 127.0.0.1:$REDIS_PORT but does not answer PING"
    echo "cluster: using the redis-server already on 127.0.0.1:$REDIS_PORT"
else
    command -v redis-server >/dev/null || die "redis-server not found (make deps-test)"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$DATA_ROOT" --logfile "$DATA_ROOT/redis.log" &
    redis_pid=$!
    for _ in $(seq 100); do
        redis_ping && break
        kill -0 "$redis_pid" 2>/dev/null || die "redis-server exited (see $DATA_ROOT/redis.log)"
        sleep 0.05
    done
    redis_ping || die "redis-server did not come up on port $REDIS_PORT"
    echo "cluster: started redis-server on 127.0.0.1:$REDIS_PORT (pid $redis_pid)"
fi

for i in 1 2 3; do
    id=broker$i
    port=$((BASE_PORT + i - 1))
    listening "$port" && die "port $port is already in use"
    kafka_args=()
    if [ "$KAFKA_BASE_PORT" != 0 ]; then
        kport=$((KAFKA_BASE_PORT + i - 1))
        listening "$kport" && die "Kafka port $kport is already in use"
        kafka_args=(--kafka-port "$kport" --kafka-host 127.0.0.1)
    fi
    mkdir -p "$DATA_ROOT/$id"
    # shellcheck disable=SC2086 # BROOK_ARGS is a list of flags
    "$BROOK" --id "$id" --port "$port" --host 127.0.0.1 --data-dir "$DATA_ROOT/$id" \
        --redis "127.0.0.1:$REDIS_PORT" --lease-ms "$LEASE_MS" --renew-ms "$RENEW_MS" \
        "${kafka_args[@]}" $BROOK_ARGS 2>"$DATA_ROOT/$id.stderr" &
    pids+=($!)
done

for i in 1 2 3; do
    port=$((BASE_PORT + i - 1))
    for _ in $(seq 100); do
        listening "$port" && break
        kill -0 "${pids[$((i - 1))]}" 2>/dev/null ||
            die "broker$i exited; see $DATA_ROOT/broker$i.stderr"
        sleep 0.05
    done
    listening "$port" || die "broker$i is not listening on $port"
done

p1=$BASE_PORT
cat <<EOF

Brook cluster: redis 127.0.0.1:$REDIS_PORT, lease ${LEASE_MS} ms, renew ${RENEW_MS} ms
  broker1  http://127.0.0.1:$p1        (pid ${pids[0]}, stderr $DATA_ROOT/broker1.stderr)
  broker2  http://127.0.0.1:$((p1 + 1))        (pid ${pids[1]}, stderr $DATA_ROOT/broker2.stderr)
  broker3  http://127.0.0.1:$((p1 + 2))        (pid ${pids[2]}, stderr $DATA_ROOT/broker3.stderr)

Try:
  curl -s http://127.0.0.1:$p1/metadata/leader
  curl -s http://127.0.0.1:$((p1 + 1))/health
  curl -si -X POST http://127.0.0.1:$((p1 + 2))/produce -H 'Content-Type: application/json' \\
       -d '{"message":"hello","topic":"demo"}'        # a follower answers 307 + Location
  curl -sL -X POST http://127.0.0.1:$((p1 + 2))/produce -H 'Content-Type: application/json' \\
       -d '{"message":"hello","topic":"demo"}'        # -L follows it to the leader
  curl -s 'http://127.0.0.1:$p1/topics/demo/partitions/0/records?offset=0'  # on the leader
  kill -9 <leader pid>   # a follower takes over within lease + renew
  kcat -b 127.0.0.1:$KAFKA_BASE_PORT -L                      # Kafka clients: any broker bootstraps
  echo hi | kcat -b 127.0.0.1:$KAFKA_BASE_PORT -P -t demo
  kcat -b 127.0.0.1:$KAFKA_BASE_PORT -C -t demo -o beginning -e

Ctrl-C stops everything started here.
EOF

# Wait until Ctrl-C, or until every broker has exited.
while :; do
    alive=0
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null && alive=1
    done
    [ "$alive" = 1 ] || {
        echo "cluster: every broker has exited"
        exit 1
    }
    sleep 1
done
