#!/usr/bin/env bash
# bench/run.sh: runs wrk against nginx (a fixed JSON reply: this machine's HTTP ceiling) and then
# against the Brook broker, server pinned to one core and wrk to the other, and prints one table.
# It only starts processes of its own (nginx, broker, wrk, helpers), stops exactly those by PID on
# exit, listens only on 127.0.0.1 free ports and never touches files outside its temp dir.
#
# usage: bench/run.sh [path-to-brook] [produce|batch|read|idle|auth ...]     (default: build/brook produce)
#        sixth-session scenarios (bench/README.md): compress zread consume commits https kafka cleaner
# env:   DURATION=10 WARMUP=2 CONNECTIONS=64 SERVER_CPU=0 CLIENT_CPU=1 TARGETS="nginx broker"
#        BROOK_ARGS="" (extra broker flags)  IDLE_ARGS="--max-connections 20000"  IDLE_CONNS=10000
#        READ_PAGES=200  NGINX=/usr/sbin/nginx  BENCH_DATA_PARENT=<dir for data/temp>
#        BENCH_LOG_DIR=<dir: keep raw wrk/server output there>  DISK_PROBE_S=1 (produce: disk probe)
#        sixth-session scenarios: COMPRESS_CODECS CONSUME_CONNS CONSUME_MAX_BYTES CONSUME_FORMAT
#        COMMIT_GROUPS HANDSHAKE_S KAFKA_RECORDS KAFKA_CLUSTER KAFKA_CLUSTER_RECORDS
#        KAFKA_MOCK_CONSUME_S KAFKA_PERF CLEANER_MB CLEANER_SEGMENT CLEANER_PERF (bench/README.md)

set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
UTIL=(python3 "$BENCH_DIR/bench_util.py")
ALL_SCENARIOS="produce batch read idle auth compress zread consume commits https kafka cleaner"

BROOK=build/brook
if [[ $# -gt 0 && " $ALL_SCENARIOS " != *" $1 "* ]]; then
  BROOK=$1
  shift
fi
SCENARIOS=("$@")
[[ ${#SCENARIOS[@]} -eq 0 ]] && SCENARIOS=(produce)
# auth (issue 14): produce.lua against a broker without auth, then produce_auth.lua (the same
# request with Authorization: Basic) against one with --users-file and an ACL allowing it, same
# binary and flags, back to back, fresh data dir each; the user's check is cached after the
# connections' first request. Target: with auth >= 0.9 x without.
auth_verdict() {
  [[ -n ${R[auth/broker/rps]:-} && -n ${R[auth/broker+auth/rps]:-} ]] || return 0
  awk -v a="${R[auth/broker+auth/rps]}" -v n="${R[auth/broker/rps]}" 'BEGIN{ ok = (a >= 0.9 * n);
    printf "target auth: produce with Basic auth / without %.2f (>= 0.90): %s\n", a / n,
    ok ? "PASS" : "FAIL" }'
}

bench_auth() {
  local users=$WORK/users acl=$WORK/acl
  printf 'allow User:bench topic literal bench write,create\n' >"$acl"
  if ! printf 'bench-pw\n' | "$BROOK" user add bench --users-file "$users" >"$WORK/user.out" 2>&1; then
    ROWS+=("auth/broker+auth")
    R[auth/broker+auth/why]="brook user add failed: $(tail -1 "$WORK/user.out")"
    return
  fi
  export BENCH_AUTHORIZATION
  BENCH_AUTHORIZATION="Basic $(printf 'bench:bench-pw' | base64)"
  bench_target auth broker produce.lua
  rm -rf "$WORK/data-auth"
  local plain=$BROOK_ARGS
  BROOK_ARGS="$plain --users-file $users --acl-file $acl"
  bench_target auth broker+auth produce_auth.lua
  BROOK_ARGS=$plain
}

for s in "${SCENARIOS[@]}"; do
  if [[ " $ALL_SCENARIOS " != *" $s "* ]]; then
    echo "run.sh: unknown scenario '$s' (known: $ALL_SCENARIOS)" >&2
    exit 2
  fi
done
[[ $BROOK == /* ]] || BROOK=$PWD/$BROOK

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-64}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
TARGETS=${TARGETS:-nginx broker}
BROOK_ARGS=${BROOK_ARGS:-}
IDLE_ARGS=${IDLE_ARGS---max-connections 20000}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_HOLD=${IDLE_HOLD:-3}
READ_PAGES=${READ_PAGES:-200}
NGINX=${NGINX:-/usr/sbin/nginx}
BENCH_LOG_DIR=${BENCH_LOG_DIR:-}
WRK_TIMEOUT=${WRK_TIMEOUT:-10s}
WRK_THREADS=${WRK_THREADS:-1}
WRK_URL=${WRK_URL:-} # empty: http://127.0.0.1:<server port>/
COMPRESS_CODECS=${COMPRESS_CODECS:-none gzip snappy lz4 zstd}
CONSUME_CONNS=${CONSUME_CONNS:-8}
CONSUME_MAX_BYTES=${CONSUME_MAX_BYTES:-102000}
CONSUME_FORMAT=${CONSUME_FORMAT:-json}
COMMIT_GROUPS=${COMMIT_GROUPS:-64}
HANDSHAKE_S=${HANDSHAKE_S:-5}
KAFKA_RECORDS=${KAFKA_RECORDS:-5000000}
KAFKA_PERF=${KAFKA_PERF:-1}
CLEANER_MB=${CLEANER_MB:-1024}
CLEANER_SEGMENT=${CLEANER_SEGMENT:-16777216}

for tool in wrk taskset python3 "$NGINX"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "run.sh: '$tool' not found (Debian: apt-get install wrk nginx-light util-linux python3)" >&2
    exit 1
  fi
done
if [[ $(nproc) -lt 2 ]]; then
  echo "run.sh: warning: fewer than 2 CPUs, server and wrk share one core" >&2
  SERVER_CPU=0 CLIENT_CPU=0
fi

WORK=$(mktemp -d "${BENCH_DATA_PARENT:-${TMPDIR:-/tmp}}/brook-bench.XXXXXX") || exit 1
PIDS=()

# Every process started here is tracked as pid:starttime, so a PID the kernel has reused for
# someone else's process is never signalled.
starttime() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
track() { PIDS+=("$1:$(starttime "$1")"); }
ours() { [[ -n $2 && $(starttime "$1") == "$2" ]]; }

stop_pid() { # pid: SIGTERM, up to 5 s, then SIGKILL; also its direct children (nginx workers)
  local pid=$1 st kids=() k i
  st=$(starttime "$pid")
  [[ -z $st ]] && { wait "$pid" 2>/dev/null; return 0; }
  local kp=()
  read -ra kp 2>/dev/null <"/proc/$pid/task/$pid/children"
  for k in "${kp[@]}"; do kids+=("$k:$(starttime "$k")"); done
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    [[ $(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) == Z ]] && break
    ours "$pid" "$st" || break
    sleep 0.1
  done
  ours "$pid" "$st" && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  for k in "${kids[@]}"; do ours "${k%%:*}" "${k#*:}" && kill -KILL "${k%%:*}" 2>/dev/null; done
  return 0
}

cleanup() {
  local pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do ours "${pid%%:*}" "${pid#*:}" && stop_pid "${pid%%:*}"; done
  if [[ -n $BENCH_LOG_DIR ]]; then
    mkdir -p "$BENCH_LOG_DIR" && cp "$WORK"/*.out "$WORK"/*.err "$BENCH_LOG_DIR"/ 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

# Raise the descriptor limit for everything started below (idle needs 10,000+ per process).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------------------------------------
# machine facts

fs_of() { findmnt -n -o FSTYPE,OPTIONS -T "$1" 2>/dev/null || df -T "$1" | awk 'NR==2{print $2}'; }
echo "== Brook bench  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpu:      $(nproc) x $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
echo "kernel:   $(uname -srm)"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg)   mem: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
echo "wrk:      $(wrk -v 2>&1 | head -1 | sed 's/ Copyright.*//')"
echo "nginx:    $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
echo "data fs:  $WORK  $(fs_of "$WORK")"
if [[ $(fs_of "$WORK") == tmpfs* ]]; then
  echo "WARNING:  data dir is on tmpfs, fsync is free there; set BENCH_DATA_PARENT to a disk"
fi
if [[ -x $BROOK ]]; then
  rev=$(git -C "$(dirname "$BROOK")" rev-parse --short HEAD 2>/dev/null || echo '?')
  echo "broker:   $BROOK (git $rev, $(date -u -r "$BROOK" +%Y-%m-%dT%H:%MZ))"
else
  echo "broker:   $BROOK (not found or not executable)"
fi
echo "method:   server on cpu $SERVER_CPU, wrk -t1 -c$CONNECTIONS on cpu $CLIENT_CPU," \
  "${WARMUP}s warm-up + ${DURATION}s, broker --fsync=always ${BROOK_ARGS}"
echo

# ---------------------------------------------------------------------------------------------
# servers

SERVER_PID="" SERVER_PORT="" SERVER_WHY=""

start_nginx() { # scenario
  local dir=$WORK/nginx-$1 port
  mkdir -p "$dir/www/topics/bench/partitions/0"
  "${UTIL[@]}" page "$dir/www/topics/bench/partitions/0/records" >/dev/null
  port=$("${UTIL[@]}" freeport)
  local user=""
  [[ $(id -u) -eq 0 ]] && user="user root;"
  local tlsport uncomment="s/^#TLS#.*//"
  tlsport=$("${UTIL[@]}" freeport)
  [[ $1 == https ]] && uncomment="s/^#TLS#//"
  sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$port#g" -e "s#@TLSPORT@#$tlsport#g" -e "s#@USER@#$user#" \
    -e "$uncomment" "$BENCH_DIR/nginx.conf.in" >"$dir/nginx.conf"
  SERVER_TLS_PORT=$tlsport
  echo "  \$ taskset -c $SERVER_CPU $NGINX -p $dir -c $dir/nginx.conf -e $dir/error.log"
  taskset -c "$SERVER_CPU" "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
    >"$WORK/nginx-$1.out" 2>"$WORK/nginx-$1.err" &
  SERVER_PID=$! SERVER_PORT=$port
  track "$SERVER_PID"
  if ! "${UTIL[@]}" wait "$port" "$SERVER_PID" 10 >/dev/null; then
    SERVER_WHY="nginx failed to start: $(tail -1 "$dir/error.log" "$WORK/nginx-$1.err" 2>/dev/null | tr '\n' ' ')"
    return 1
  fi
}

start_broker() { # scenario [extra args...]
  local scenario=$1 port data
  shift
  data=$WORK/data-$scenario
  mkdir -p "$data"
  port=$("${UTIL[@]}" freeport)
  # shellcheck disable=SC2206 # BROOK_ARGS / IDLE_ARGS are deliberately word-split
  local cmd=("$BROOK" --standalone --port "$port" --data-dir "$data" --fsync=always $BROOK_ARGS "$@")
  echo "  \$ taskset -c $SERVER_CPU ${cmd[*]}"
  taskset -c "$SERVER_CPU" "${cmd[@]}" >"$WORK/broker-$scenario.out" 2>"$WORK/broker-$scenario.err" &
  SERVER_PID=$! SERVER_PORT=$port
  track "$SERVER_PID"
  local state
  state=$("${UTIL[@]}" wait "$port" "$SERVER_PID" 10)
  if [[ $state != up ]]; then
    SERVER_WHY="broker failed to start ($state): $(tail -c 300 "$WORK/broker-$scenario.err" 2>/dev/null | tail -2 | tr '\n' ' ')"
    return 1
  fi
}

start_target() { # target scenario [broker extra args...]
  local target=$1
  shift
  SERVER_WHY=""
  if [[ $target == nginx ]]; then start_nginx "$1"; else start_broker "$@"; fi
}

stop_target() {
  [[ -n $SERVER_PID ]] && stop_pid "$SERVER_PID"
  SERVER_PID=""
}

disk_probe() { # -> p50 microseconds of a 5,000-byte pwrite + fdatasync in the data directory
  taskset -c "$SERVER_CPU" "${UTIL[@]}" disk "$WORK" "${DISK_PROBE_S:-1}" 2>/dev/null |
    sed -n 's/.*p50_us=\([0-9]*\).*/\1/p'
}

probe() { # port scenario [query] -> sets PROBE_ITEMS; fails with SERVER_WHY
  local out
  out=$("${UTIL[@]}" probe "$1" "$2" ${3:+"$3"} 2>"$WORK/probe.err")
  local rc=$?
  PROBE_ITEMS=$(sed -n 's/.*items=\(-\?[0-9]*\).*/\1/p' <<<"$out")
  if [[ $rc -ne 0 ]]; then
    SERVER_WHY="probe failed: $out $(head -c 160 "$WORK/probe.err" | tr '\n' ' ')"
    return 1
  fi
}

# ---------------------------------------------------------------------------------------------
# wrk runs and results

declare -A R # R[scenario/target/field]
ROWS=()

run_wrk() { # scenario target script
  local scenario=$1 target=$2 script=$3 out=$WORK/wrk-$1-$2.out
  export BENCH_DIR READ_PAGES
  wrk_cmd() { # duration_s
    WRK=(taskset -c "$CLIENT_CPU" wrk "-t$WRK_THREADS" "-c$CONNECTIONS" "-d$1s" --timeout "$WRK_TIMEOUT"
      --latency -s "$BENCH_DIR/$script" "${WRK_URL:-http://127.0.0.1:$SERVER_PORT/}")
  }
  if [[ $WARMUP -gt 0 ]]; then
    wrk_cmd "$WARMUP"
    timeout -k 5 $((WARMUP + 30)) "${WRK[@]}" >/dev/null 2>&1 &
    track $!
    wait $!
  fi
  wrk_cmd "$DURATION"
  echo "  \$ ${WRK[*]}"
  local cores0 cores1 cpu0 cpu1 t0 t1 flushes0="" flushes1=""
  [[ ($target == broker && $scenario == produce) || $scenario == commits ]] &&
    flushes0=$("${UTIL[@]}" flushes "$SERVER_PORT")
  cores0=$("${UTIL[@]}" corestat) cpu0=$("${UTIL[@]}" cpu "$SERVER_PID") t0=$(date +%s.%N)
  local freeze_pid=""
  if [[ $scenario == produce ]]; then # see bench/README.md, "Freezes"
    taskset -c "$CLIENT_CPU" "${UTIL[@]}" freezes "$DURATION" >"$WORK/freezes-$target.out" 2>&1 &
    freeze_pid=$!
    track "$freeze_pid"
  fi
  timeout -k 5 $((DURATION + 60)) "${WRK[@]}" >"$out" 2>&1 &
  track $!
  wait $!
  [[ -n $freeze_pid ]] && wait "$freeze_pid"
  cores1=$("${UTIL[@]}" corestat) cpu1=$("${UTIL[@]}" cpu "$SERVER_PID") t1=$(date +%s.%N)
  [[ -n $flushes0 ]] && flushes1=$("${UTIL[@]}" flushes "$SERVER_PORT")
  # Server CPU share and how busy each core was: core busy well above the server's share (core
  # 0) or wrk's work (core 1) means someone else was using the machine during the run.
  R[$scenario/$target/cpu_s]=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.2f", b - a}')
  R[$scenario/$target/cpu]="$(awk -v a="$cpu0" -v b="$cpu1" -v t0="$t0" -v t1="$t1" \
    'BEGIN{printf "%.0f", 100 * (b - a) / (t1 - t0)}')/$("${UTIL[@]}" busy "$cores0" "$cores1" \
    "$SERVER_CPU" "$CLIENT_CPU" | tr ' ' '/')"
  local line
  line=$(grep '^BENCH ' "$out" | tail -1)
  if [[ -z $line ]]; then
    R[$scenario/$target/why]="wrk produced no result: $(tail -2 "$out" | tr '\n' ' ')"
    return 1
  fi
  local kv
  for kv in ${line#BENCH }; do R[$scenario/$target/${kv%%=*}]=${kv#*=}; done
  R[$scenario/$target/rps]=$(awk -v n="${R[$scenario/$target/requests]}" \
    -v us="${R[$scenario/$target/duration_us]}" 'BEGIN{printf "%.0f", n * 1e6 / us}')
  local errs=$((R[$scenario/$target/err_connect] + R[$scenario/$target/err_read] + \
    R[$scenario/$target/err_write] + R[$scenario/$target/err_timeout]))
  local note=""
  if [[ $flushes0 == rounds=* && $flushes1 == rounds=* ]]; then
    # Group commit at work: flush rounds per second, appends per round, mean round time.
    note+=$(awk -v a="$flushes0" -v b="$flushes1" -v t0="$t0" -v t1="$t1" 'BEGIN{
      split(a, x, /[ =]/); split(b, y, /[ =]/); r = y[2] - x[2]; n = y[4] - x[4]; s = y[6] - x[6]
      if (r > 0) printf "%.0f rounds/s x %.1f appends, %.0f us each; ", r / (t1 - t0), n / r, s / r * 1e6 }')
  fi
  if [[ $scenario == produce && -s $WORK/freezes-$target.out ]]; then
    note+=$(sed -n 's/count=\([0-9]*\) ms=\([0-9]*\) per_s=\([0-9.]*\).*/machine stopped \1x (\2 ms); /p' \
      "$WORK/freezes-$target.out")
  fi
  ((errs > 0)) && note+="socket errors $errs; "
  ((R[$scenario/$target/err_status] > 0)) && note+="non-2xx ${R[$scenario/$target/err_status]}; "
  R[$scenario/$target/note]=$note
  if [[ $target == broker ]] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
    R[$scenario/$target/note]+="BROKER DIED during run; "
  fi
}

bench_target() { # scenario target script [records-per-request]
  local scenario=$1 target=$2 script=$3 per=${4:-}
  ROWS+=("$scenario/$target")
  echo "-- $scenario / $target"
  if ! start_target "$target" "$scenario"; then
    R[$scenario/$target/why]=$SERVER_WHY
    stop_target
    return
  fi
  if [[ $target == broker && $scenario == read ]]; then
    echo "  pre-fill: $READ_PAGES x POST /topics/bench/partitions/0 (1,000 records each)"
    local fill
    if ! fill=$("${UTIL[@]}" prefill "$SERVER_PORT" "$READ_PAGES" 2>"$WORK/prefill.err"); then
      R[$scenario/$target/why]="pre-fill failed: $fill $(head -c 160 "$WORK/prefill.err" | tr '\n' ' ')"
      stop_target
      return
    fi
    echo "  pre-fill: $fill"
  fi
  if ! probe "$SERVER_PORT" "$scenario"; then
    R[$scenario/$target/why]=$SERVER_WHY
    stop_target
    return
  fi
  if [[ $target == broker && -n $per && $PROBE_ITEMS -ge 0 && $PROBE_ITEMS -ne $per ]]; then
    R[$scenario/$target/note]="probe saw $PROBE_ITEMS items, not $per; "
    [[ $scenario == read ]] && per=$PROBE_ITEMS
  fi
  local pre=${R[$scenario/$target/note]:-} disk0="" disk1=""
  # The disk's own pwrite+fdatasync latency, just before and after the run: it bounds what
  # the broker can do with --fsync=always, and on a shared or virtual disk it moves a lot.
  [[ $target == broker && $scenario == produce ]] && disk0=$(disk_probe)
  run_wrk "$scenario" "$target" "$script"
  [[ -n $disk0 ]] && disk1=$(disk_probe)
  R[$scenario/$target/note]="$pre${R[$scenario/$target/note]:-}"
  [[ -n $disk0 ]] && R[$scenario/$target/note]+="disk sync p50 ${disk0:-?}/${disk1:-?} us before/after; "
  if [[ -n $per && -n ${R[$scenario/$target/rps]:-} ]]; then
    local rps=${R[$scenario/$target/rps]} bpr
    bpr=$(awk -v b="${R[$scenario/$target/bytes]}" -v n="${R[$scenario/$target/requests]}" \
      'BEGIN{printf "%.0f", n ? b / n : 0}')
    R[$scenario/$target/note]+=$(awk -v r="$rps" -v p="$per" -v bpr="$bpr" \
      'BEGIN{printf "%.2fM rec/s, %.0f MB/s values, %.1f KB/resp", r * p / 1e6, r * p * 100 / 1e6, bpr / 1000}')
  fi
  stop_target
}

bench_idle() { # target
  local target=$1 s=idle
  ROWS+=("$s/$target")
  echo "-- $s / $target"
  local args=()
  # shellcheck disable=SC2206
  [[ $target == broker ]] && args=($IDLE_ARGS)
  if ! start_target "$target" "$s" "${args[@]}"; then
    R[$s/$target/why]=$SERVER_WHY
    stop_target
    return
  fi
  if ! probe "$SERVER_PORT" idle; then
    R[$s/$target/why]=$SERVER_WHY
    stop_target
    return
  fi
  sleep 0.5
  local before after out=$WORK/idle-$target.out
  before=$("${UTIL[@]}" rss "$SERVER_PID")
  echo "  \$ taskset -c $CLIENT_CPU python3 bench/idle_conns.py $SERVER_PORT -n $IDLE_CONNS --hold $IDLE_HOLD"
  taskset -c "$CLIENT_CPU" python3 "$BENCH_DIR/idle_conns.py" "$SERVER_PORT" -n "$IDLE_CONNS" \
    --hold "$IDLE_HOLD" >"$out" 2>&1 &
  local helper=$!
  track "$helper"
  local i
  for ((i = 0; i < 1200; i++)); do
    grep -q '^READY' "$out" && break
    kill -0 "$helper" 2>/dev/null || break
    sleep 0.05
  done
  sleep 1
  after=$("${UTIL[@]}" rss "$SERVER_PID")
  wait "$helper" 2>/dev/null
  local ready held open
  ready=$(grep '^READY' "$out")
  held=$(grep '^HELD' "$out")
  open=$(sed -n 's/^HELD open=\([0-9]*\).*/\1/p' <<<"$held")
  R[$s/$target/rss_before]=$before
  R[$s/$target/rss_after]=$after
  R[$s/$target/open]=${open:-0}
  R[$s/$target/note]="${ready#READY } | ${held#HELD }"
  [[ -z $ready ]] && R[$s/$target/why]="idle helper failed: $(tail -2 "$out" | tr '\n' ' ')"
  if [[ $target == broker ]] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
    R[$s/$target/why]="BROKER DIED while holding idle connections"
  fi
  stop_target
}

# ---------------------------------------------------------------------------------------------
# Sixth session: compression, consumer groups, HTTPS, the Kafka listener and the cleaner. Each
# scenario measures its reference in the same invocation (R[row/ref]); results that are not a
# wrk row (handshakes, Kafka clients, the cleaner) are printed as EXTRA lines after the table.

EXTRA=()
SERVER_TLS_PORT=""

ms() { awk -v us="$1" 'BEGIN{printf "%.2f", us / 1000}'; }

row_fail() { # row why
  R[$1/why]=$2
  stop_target
}

metric() { # port prefix... -> words name=value from /metrics
  "${UTIL[@]}" metric "$@" 2>/dev/null
}

metric_value() { # "words" name -> value of the first word starting with name
  tr ' ' '\n' <<<"$1" | grep -F -- "$2" | head -1 | sed 's/.*=//'
}

per_cpu() { # row -> "N k rec per server cpu-s; " (rate x duration / server CPU seconds): what the
  # server could do with its core to itself, a figure the neighbours move much less than rec/s
  awk -v r="${R[$1/rate]:-${R[$1/rps]:-0}}" -v us="${R[$1/duration_us]:-0}" -v c="${R[$1/cpu_s]:-0}" \
    'BEGIN{ if (c > 0) printf "%.0fk/server cpu-s; ", r * us / 1e6 / c / 1e3 }'
}

row_rate() { # row per-request -> R[row/rate] = req/s x per
  R[$1/rate]=$(awk -v r="${R[$1/rps]:-0}" -v p="$2" 'BEGIN{printf "%.0f", r * p}')
}

bench_compress() { # batch produce per codec (?compression=), vs uncompressed; bytes on disk
  local codec row data bytes ends stored unc
  for codec in $COMPRESS_CODECS; do
    row=compress/$codec
    ROWS+=("$row")
    R[$row/ref]=compress/none
    echo "-- compress / $codec"
    SERVER_WHY=""
    start_broker "compress-$codec" || { row_fail "$row" "$SERVER_WHY"; continue; }
    probe "$SERVER_PORT" batch "?compression=$codec" || { row_fail "$row" "$SERVER_WHY"; continue; }
    export BATCH_PATH="/topics/bench/partitions/0?compression=$codec"
    run_wrk compress "$codec" batch.lua
    unset BATCH_PATH
    row_rate "$row" 1000
    data=$WORK/data-compress-$codec
    bytes=$(du -sb "$data/bench-0" | cut -f1)
    ends=$(metric "$SERVER_PORT" brook_partition_log_end_offset brook_topic_batch_bytes)
    stored=$(metric_value "$ends" 'brook_topic_batch_bytes_stored_total{topic="bench"}')
    unc=$(metric_value "$ends" 'brook_topic_batch_bytes_uncompressed_total{topic="bench"}')
    R[$row/records]=$(metric_value "$ends" 'brook_partition_log_end_offset{topic="bench"')
    R[$row/disk]=$bytes
    R[$row/note]+=$(awk -v r="${R[$row/rate]}" -v b="$bytes" -v n="${R[$row/records]}" \
      -v s="$stored" -v u="$unc" 'BEGIN{printf "%.2fM rec/s; du %.1f MB for %d records = %.1f B/record; " \
      "batches %.1f%% of uncompressed; ", r / 1e6, b / 1e6, n, n ? b / n : 0, u ? 100 * s / u : 0}')
    R[$row/note]+="$(per_cpu "$row")vs compress/none; "
    stop_target
  done
  local ref=compress/none
  for codec in $COMPRESS_CODECS; do
    row=compress/$codec
    [[ -n ${R[$row/disk]:-} && -n ${R[$ref/disk]:-} ]] || continue
    EXTRA+=("$(awk -v c="$codec" -v r="${R[$row/rate]}" -v r0="${R[$ref/rate]}" \
      -v b="${R[$row/disk]}" -v n="${R[$row/records]}" -v b0="${R[$ref/disk]}" -v n0="${R[$ref/records]}" 'BEGIN{
      d = (b / n) / (b0 / n0); rr = r / r0
      printf "compress %-6s %5.2fM rec/s  %.2f x none   %6.1f B/record on disk  %.3f x none", c, r / 1e6, rr, b / n, d
      if (c == "zstd") printf "   target >= 0.70 and <= 0.333: %s", (rr >= 0.7 && d <= 1 / 3) ? "PASS" : "FAIL"
    }')")
  done
}

bench_zread() { # reads of a zstd topic vs an uncompressed one (1,000-record pages, warm log)
  local codec row
  for codec in none zstd; do
    row=zread/$codec
    ROWS+=("$row")
    R[$row/ref]=zread/none
    echo "-- zread / $codec"
    SERVER_WHY=""
    start_broker "zread-$codec" || { row_fail "$row" "$SERVER_WHY"; continue; }
    echo "  pre-fill: $READ_PAGES x POST /topics/bench/partitions/0?compression=$codec"
    "${UTIL[@]}" prefill "$SERVER_PORT" "$READ_PAGES" "?compression=$codec" >/dev/null 2>&1 ||
      { row_fail "$row" "pre-fill failed"; continue; }
    probe "$SERVER_PORT" read || { row_fail "$row" "$SERVER_WHY"; continue; }
    run_wrk zread "$codec" read.lua
    row_rate "$row" "$PROBE_ITEMS"
    R[$row/note]+="$(awk -v r="${R[$row/rate]}" 'BEGIN{printf "%.2fM rec/s", r / 1e6}') ($PROBE_ITEMS/page); $(per_cpu "$row")vs zread/none; "
    stop_target
  done
  if [[ -n ${R[zread/zstd/rate]:-} && -n ${R[zread/none/rate]:-} ]]; then
    EXTRA+=("$(awk -v z="${R[zread/zstd/rate]}" -v n="${R[zread/none/rate]}" 'BEGIN{
      printf "zread    zstd/none reads %.2f (target >= 0.70): %s", z / n, (z >= 0.7 * n) ? "PASS" : "FAIL" }')")
  fi
}

consume_records() { # scenario target -> R[row/rate] from consume.lua's CONSUME line
  local row=$1/$2 line kv
  line=$(grep '^CONSUME ' "$WORK/wrk-$1-$2.out" | tail -1)
  for kv in ${line#CONSUME }; do R[$row/${kv%%=*}]=${kv#*=}; done
  R[$row/rate]=$(awk -v n="${R[$row/records]:-0}" -v us="${R[$row/duration_us]:-1}" \
    'BEGIN{printf "%.0f", n * 1e6 / us}')
  R[$row/note]+=$(awk -v r="${R[$row/rate]}" -v q="${R[$row/rps]:-0}" -v e="${R[$row/empties]:-0}" \
    -v s="${R[$row/seeks]:-0}" 'BEGIN{printf "%.2fM rec/s, %.0f rec/answer; %d empty answers, %d seeks; ",
    r / 1e6, q ? r / q : 0, e, s}')
}

bench_consume() { # a consumer instance's records vs the stateless partition read, same data
  local row mode
  echo "-- consume (one broker, $READ_PAGES x 1,000 records, $CONSUME_CONNS connections, format=$CONSUME_FORMAT)"
  SERVER_WHY=""
  if start_broker consume && "${UTIL[@]}" prefill "$SERVER_PORT" "$READ_PAGES" >/dev/null 2>&1 &&
    "${UTIL[@]}" consumers "$SERVER_PORT" "$CONSUME_CONNS" "$CONSUME_FORMAT" >"$WORK/consumers.out" 2>&1; then
    echo "  pre-fill: $READ_PAGES pages; $CONSUME_CONNS instances (group bench<i>, instance c, format $CONSUME_FORMAT)"
    for mode in partition instance; do
      row=consume/$mode
      ROWS+=("$row")
      R[$row/ref]=consume/partition
      export CONSUME_MODE=$mode CONSUME_MAX_BYTES CONSUME_FORMAT
      WRK_THREADS=$CONSUME_CONNS CONNECTIONS=$CONSUME_CONNS run_wrk consume "$mode" consume.lua
      consume_records consume "$mode"
      R[$row/note]+="$(per_cpu "$row")vs consume/partition; "
    done
    unset CONSUME_MODE
    if [[ -n ${R[consume/instance/rate]:-} && ${R[consume/partition/rate]:-0} -gt 0 ]]; then
      EXTRA+=("$(awk -v i="${R[consume/instance/rate]}" -v p="${R[consume/partition/rate]}" 'BEGIN{
        printf "consume  instance/partition records/s %.2f (target >= 0.80): %s", i / p, (i >= 0.8 * p) ? "PASS" : "FAIL" }')")
    fi
  else
    for mode in partition instance; do
      ROWS+=("consume/$mode")
      R[consume/$mode/why]="setup failed: $SERVER_WHY $(tail -2 "$WORK/consumers.out" 2>/dev/null | tr '\n' ' ')"
    done
  fi
  stop_target
}

bench_commits() { # explicit commits from CONNECTIONS connections vs produce, one broker
  local row
  echo "-- commits (one broker, $COMMIT_GROUPS instances, $CONNECTIONS connections)"
  SERVER_WHY=""
  if start_broker commits && probe "$SERVER_PORT" produce &&
    "${UTIL[@]}" consumers "$SERVER_PORT" "$COMMIT_GROUPS" >"$WORK/consumers.out" 2>&1; then
    for row in commits/produce commits/commit; do
      ROWS+=("$row")
      R[$row/ref]=commits/produce
      export COMMIT_GROUPS
      run_wrk commits "${row#*/}" "$([[ $row == commits/produce ]] && echo produce.lua || echo commits.lua)"
      R[$row/note]+="$(per_cpu "$row")"
      [[ $row == commits/commit ]] && R[$row/note]+="vs commits/produce; "
    done
    local ends
    ends=$(metric "$SERVER_PORT" 'brook_partition_log_end_offset{topic="__consumer_offsets"')
    R[commits/commit/note]+="__consumer_offsets end offset $(metric_value "$ends" brook_partition_log_end_offset); "
    [[ -n ${R[commits/commit/rps]:-} ]] && EXTRA+=("commits  ${R[commits/commit/rps]} commits/s, p99 $(ms "${R[commits/commit/p99]}") ms, $CONNECTIONS connections, --fsync=always (produce on the same broker: ${R[commits/produce/rps]:-?} req/s, p99 $(ms "${R[commits/produce/p99]:-0}") ms)")
  else
    for row in commits/produce commits/commit; do
      ROWS+=("$row")
      R[$row/why]="setup failed: $SERVER_WHY $(tail -2 "$WORK/consumers.out" 2>/dev/null | tr '\n' ' ')"
    done
  fi
  stop_target
}

handshakes() { # port mode(-new|-reuse) -> "N/s" from openssl s_time, pinned to the client core
  taskset -c "$CLIENT_CPU" timeout $((HANDSHAKE_S + 20)) openssl s_time -connect "127.0.0.1:$1" \
    "$2" -time "$HANDSHAKE_S" 2>/dev/null | awk '/connections in .* real seconds/{
    printf "%.0f", $1 / $4; exit }'
}

bench_https() { # produce over HTTPS keep-alive, broker vs nginx, both one core; handshakes/s
  local t row port
  if [[ ! -s $WORK/tls-cert.pem ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/tls-key.pem" -out "$WORK/tls-cert.pem" \
      -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
  fi
  for t in $TARGETS; do
    row=https/$t
    ROWS+=("$row")
    R[$row/ref]=https/nginx
    echo "-- https / $t"
    SERVER_WHY=""
    if [[ $t == nginx ]]; then
      start_nginx https || { row_fail "$row" "$SERVER_WHY"; continue; }
      port=$SERVER_TLS_PORT
    else
      port=$("${UTIL[@]}" freeport)
      start_broker https --tls-port "$port" --tls-cert "$WORK/tls-cert.pem" \
        --tls-key "$WORK/tls-key.pem" || { row_fail "$row" "$SERVER_WHY"; continue; }
      "${UTIL[@]}" wait "$port" "$SERVER_PID" 10 >/dev/null
    fi
    local code
    code=$(curl -sk -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
      -d '{"message":"probe","topic":"bench"}' "https://127.0.0.1:$port/produce")
    [[ $code == 2* ]] || { row_fail "$row" "HTTPS probe answered $code"; continue; }
    WRK_URL="https://127.0.0.1:$port/" run_wrk https "$t" produce.lua
    local hn hr
    echo "  \$ taskset -c $CLIENT_CPU openssl s_time -connect 127.0.0.1:$port {-new|-reuse} -time $HANDSHAKE_S"
    hn=$(handshakes "$port" -new)
    hr=$(handshakes "$port" -reuse)
    R[$row/hs_new]=${hn:-0} R[$row/hs_reuse]=${hr:-0}
    R[$row/note]+="handshakes/s: ${hn:-?} new, ${hr:-?} resumed; $(per_cpu "$row")"
    [[ $t == broker ]] && R[$row/note]+="vs https/nginx; "
    stop_target
  done
  if [[ -n ${R[https/broker/rps]:-} && -n ${R[https/nginx/rps]:-} ]]; then
    EXTRA+=("$(awk -v b="${R[https/broker/rps]}" -v n="${R[https/nginx/rps]}" -v hb="${R[https/broker/hs_new]}" \
      -v hn="${R[https/nginx/hs_new]}" 'BEGIN{printf "https    broker/nginx produce %.2f (target >= 0.60): %s; " \
      "new handshakes/s broker %d, nginx %d (%.2f)", b / n, (b >= 0.6 * n) ? "PASS" : "FAIL", hb, hn, hn ? hb / hn : 0 }')")
  fi
}

kafka_client() { # label args... -> runs kafka_bench on the client core, sets KOUT (KBENCH words)
  local label=$1 out=$WORK/kafka-$1.out
  shift
  echo "  \$ taskset -c $CLIENT_CPU kafka_bench $*"
  taskset -c "$CLIENT_CPU" "$WORK/kafka_bench" "$@" >"$out" 2>"$WORK/kafka-$label.err"
  KOUT="$(grep '^KBENCH' "$out" | tail -1)"
  KOUT=${KOUT//KBENCH /}
}

kafka_line() { # label "KBENCH words" "server sched before" "server sched after"
  # CPU time per record on each side gives each side's ceiling if it had its core to itself
  # (records / CPU seconds); run-queue wait is time ready to run with no core (the neighbours).
  awk -v l="$1" -v w="$2" -v s0="$3" -v s1="$4" 'BEGIN{
    n = split(w, a, " "); for (i = 1; i <= n; i++) { split(a[i], kv, "="); v[kv[1]] = kv[2] }
    n = split(s0, b, " "); for (i = 1; i <= n; i++) { split(b[i], kv, "="); x[kv[1]] = kv[2] }
    n = split(s1, b, " "); for (i = 1; i <= n; i++) { split(b[i], kv, "="); e[kv[1]] = kv[2] }
    sr = e["run"] - x["run"]; sw = e["wait"] - x["wait"]
    printf "%-29s %8.0f rec/s %6.1f MB/s %8d rec in %5.2f s | client cpu %.2f s, runq %.2f s, %.1fM rec/cpu-s | server cpu %.2f s, runq %.2f s, %.1fM rec/cpu-s%s",
      l, v["rps"], v["mbps"], v["records"], v["seconds"], v["cpu_s"], v["runq_wait_s"],
      v["cpu_s"] ? v["records"] / v["cpu_s"] / 1e6 : 0, sr, sw, (sr > 0) ? v["records"] / sr / 1e6 : 0,
      (v["failed"] + v["errors"]) ? "  ERRORS " v["failed"] v["errors"] " " v["first_error"] : "" }'
}

KPERF_PID=""
kafka_perf_start() { # what: perf record -g on the broker (KAFKA_PERF=1)
  KPERF_PID=""
  [[ $KAFKA_PERF == 1 ]] && command -v perf >/dev/null || return 0
  perf record -g -p "$SERVER_PID" -o "$WORK/kafka-$1.perf" >/dev/null 2>&1 &
  KPERF_PID=$!
  track "$KPERF_PID"
  sleep 0.5 # attached before the client starts
}

kafka_perf_stop() { # what: stop perf, keep its top 12 symbols in kafka-<what>.top
  [[ -n $KPERF_PID ]] || return 0
  kill -INT "$KPERF_PID" 2>/dev/null
  wait "$KPERF_PID" 2>/dev/null
  perf report -i "$WORK/kafka-$1.perf" --no-children --sort symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -12 | sed 's/ *- *- *$//' >"$WORK/kafka-$1.top"
  KPERF_PID=""
}

bench_kafka() { # librdkafka producer/consumer: Brook's Kafka listener vs librdkafka's mock cluster
  echo "-- kafka (librdkafka $(dpkg-query -W -f '${Version}' librdkafka-dev 2>/dev/null || echo '?'), $KAFKA_RECORDS x 100 B)"
  if ! cc -O2 -o "$WORK/kafka_bench" "$BENCH_DIR/kafka_bench.c" -lrdkafka 2>"$WORK/kafka-cc.err"; then
    EXTRA+=("kafka    FAILED: cannot build bench/kafka_bench.c (Debian: apt-get install librdkafka-dev): $(head -c 200 "$WORK/kafka-cc.err" | tr '\n' ' ')")
    return
  fi
  local boot c0 c1 mock_p
  # The reference: the mock cluster in its own process, pinned where the broker will be.
  echo "  \$ taskset -c $SERVER_CPU kafka_bench mock bench 1"
  taskset -c "$SERVER_CPU" "$WORK/kafka_bench" mock bench 1 >"$WORK/kafka-mock.out" 2>"$WORK/kafka-mock.err" &
  SERVER_PID=$!
  track "$SERVER_PID"
  for _ in $(seq 50); do grep -q BOOTSTRAP "$WORK/kafka-mock.out" && break; sleep 0.1; done
  boot=$(awk '/^BOOTSTRAP/{print $2}' "$WORK/kafka-mock.out")
  c0=$("${UTIL[@]}" sched "$SERVER_PID")
  kafka_client mock-produce produce "$boot" bench "$KAFKA_RECORDS" 100 all
  c1=$("${UTIL[@]}" sched "$SERVER_PID")
  mock_p=$KOUT
  EXTRA+=("$(kafka_line "kafka produce mock acks=all" "$KOUT" "$c0" "$c1")")
  c0=$c1
  KBENCH_TIMEOUT=${KAFKA_MOCK_CONSUME_S:-10} kafka_client mock-consume consume "$boot" bench "$KAFKA_RECORDS"
  c1=$("${UTIL[@]}" sched "$SERVER_PID")
  EXTRA+=("$(kafka_line "kafka consume mock" "$KOUT" "$c0" "$c1")")
  stop_target
  # Brook: standalone, --fsync=always, the Kafka listener on a free port.
  local kport
  kport=$("${UTIL[@]}" freeport)
  SERVER_WHY=""
  if ! start_broker kafka --kafka-port "$kport"; then
    EXTRA+=("kafka    FAILED: $SERVER_WHY")
    stop_target
    return
  fi
  "${UTIL[@]}" post "$SERVER_PORT" /topics '{"name":"bench","partitions":1}' >/dev/null
  kafka_perf_start produce
  c0=$("${UTIL[@]}" sched "$SERVER_PID")
  kafka_client broker-produce produce "127.0.0.1:$kport" bench "$KAFKA_RECORDS" 100 all
  c1=$("${UTIL[@]}" sched "$SERVER_PID")
  kafka_perf_stop produce
  local bp=$KOUT
  EXTRA+=("$(kafka_line "kafka produce Brook acks=all" "$KOUT" "$c0" "$c1")")
  kafka_perf_start consume
  c0=$("${UTIL[@]}" sched "$SERVER_PID")
  kafka_client broker-consume consume "127.0.0.1:$kport" bench "$KAFKA_RECORDS"
  c1=$("${UTIL[@]}" sched "$SERVER_PID")
  kafka_perf_stop consume
  local bc=$KOUT
  EXTRA+=("$(kafka_line "kafka consume Brook" "$KOUT" "$c0" "$c1")")
  EXTRA+=("kafka    on-disk bytes after produce: $(du -sb "$WORK/data-kafka/bench-0" | cut -f1) in bench-0")
  stop_target
  EXTRA+=("$(awk -v b="$bp" -v m="$mock_p" -v c="$bc" 'BEGIN{
    split(b, x, " "); split(m, y, " "); split(c, z, " ")
    for (i in x) { split(x[i], kv, "="); B[kv[1]] = kv[2] } for (i in y) { split(y[i], kv, "="); M[kv[1]] = kv[2] }
    for (i in z) { split(z[i], kv, "="); C[kv[1]] = kv[2] }
    r = M["rps"] ? B["rps"] / M["rps"] : 0
    printf "kafka    produce Brook/mock %.2f (target >= 0.80): %s; consume %.2fM rec/s (target >= 3M/s or client-bound): %s",
      r, (r >= 0.8) ? "PASS" : "FAIL", C["rps"] / 1e6, (C["rps"] >= 3e6) ? "PASS" : "see profile" }')")
  local what
  for what in produce consume; do
    [[ -s $WORK/kafka-$what.top ]] || continue
    EXTRA+=("kafka    broker's top frames during the $what (perf record -g, --no-children):")
    while IFS= read -r l; do EXTRA+=("           $l"); done <"$WORK/kafka-$what.top"
  done
  if [[ ${KAFKA_CLUSTER:-1} == 1 ]] && command -v redis-server >/dev/null; then
    echo "  \$ python3 bench/kafka_cluster.py $BROOK $WORK/kafka_bench ${KAFKA_CLUSTER_RECORDS:-1000000}"
    python3 "$BENCH_DIR/kafka_cluster.py" "$BROOK" "$WORK/kafka_bench" "${KAFKA_CLUSTER_RECORDS:-1000000}" \
      >"$WORK/kafka-cluster.out" 2>"$WORK/kafka-cluster.err"
    while IFS= read -r l; do EXTRA+=("$l"); done < <(grep '^kafka' "$WORK/kafka-cluster.out")
    grep -q '^kafka' "$WORK/kafka-cluster.out" ||
      EXTRA+=("kafka    cluster FAILED: $(tail -3 "$WORK/kafka-cluster.err" | tr '\n' ' ')")
  fi
}

sched_delta() { # "run=a wait=b" "run=c wait=d" -> "cpu X s, run-queue wait Y s"
  awk -v a="$1" -v b="$2" 'BEGIN{ split(a, x, /[ =]/); split(b, y, /[ =]/)
    printf "cpu %.2f s, run-queue wait %.2f s", y[2] - x[2], y[4] - x[4] }'
}

bench_cleaner() { # the cleaner compacting a CLEANER_MB partition: MB/s, produce p99 with and without
  local row
  echo "-- cleaner ($CLEANER_MB MiB compacted partition, segments of $CLEANER_SEGMENT bytes)"
  SERVER_WHY=""
  if ! start_broker cleaner --log-cleaner-interval-ms 0; then
    ROWS+=(cleaner/idle)
    row_fail cleaner/idle "$SERVER_WHY"
    return
  fi
  "${UTIL[@]}" post "$SERVER_PORT" /topics "{\"name\":\"compact\",\"partitions\":1,\"configs\":{\"cleanup.policy\":\"compact\",\"segment.bytes\":\"$CLEANER_SEGMENT\"}}" >/dev/null
  local dir=$WORK/data-cleaner/compact-0 size=0 t0 t1
  t0=$(date +%s.%N)
  echo "  fill: wrk -t1 -c8 -d2s -s bench/fill_keyed.lua (100,000 keys) until du >= $CLEANER_MB MiB"
  while ((size < CLEANER_MB * 1048576)); do
    taskset -c "$CLIENT_CPU" wrk -t1 -c8 -d2s -s "$BENCH_DIR/fill_keyed.lua" "http://127.0.0.1:$SERVER_PORT/" \
      >"$WORK/fill.out" 2>&1
    size=$(du -sb "$dir" | cut -f1)
    kill -0 "$SERVER_PID" 2>/dev/null || break
  done
  t1=$(date +%s.%N)
  local filled
  filled=$(awk -v s="$size" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f MB in %.1f s", s / 1e6, b - a}')
  echo "  filled: $filled"
  stop_target
  # Without the cleaner: the same data, --log-cleaner-interval-ms 0.
  ROWS+=(cleaner/idle)
  R[cleaner/idle/ref]=cleaner/idle
  start_broker cleaner --log-cleaner-interval-ms 0 || { row_fail cleaner/idle "$SERVER_WHY"; return; }
  probe "$SERVER_PORT" produce || { row_fail cleaner/idle "$SERVER_WHY"; return; }
  local s0 s1
  s0=$("${UTIL[@]}" sched "$SERVER_PID")
  WARMUP=0 run_wrk cleaner idle produce.lua
  s1=$("${UTIL[@]}" sched "$SERVER_PID")
  R[cleaner/idle/note]+="no cleaning; broker $(sched_delta "$s0" "$s1"); "
  stop_target
  # With it: a restart cleans every compacted partition once in full, starting after the first
  # interval; the produce run starts at once and the cleaner's metrics are sampled until it ends.
  ROWS+=(cleaner/running)
  R[cleaner/running/ref]=cleaner/idle
  local tb w0 w1 m i
  tb=$(date +%s.%N)
  start_broker cleaner --log-cleaner-interval-ms 200 || { row_fail cleaner/running "$SERVER_WHY"; return; }
  w0=$(date +%s.%N)
  ( # when the first cleaning run ends, seen from outside (sampled every 0.2 s)
    for ((i = 0; i < 3000; i++)); do
      m=$(metric "$SERVER_PORT" brook_log_cleaner_runs_total)
      [[ $(metric_value "$m" brook_log_cleaner_runs_total) -ge 1 ]] 2>/dev/null && break
      sleep 0.2
    done
    date +%s.%N >"$WORK/cleaner-done"
  ) &
  local poller=$!
  track "$poller"
  s0=$("${UTIL[@]}" sched "$SERVER_PID")
  KAFKA_PERF=${CLEANER_PERF:-1} kafka_perf_start cleaner
  WARMUP=0 run_wrk cleaner running produce.lua
  w1=$(date +%s.%N)
  s1=$("${UTIL[@]}" sched "$SERVER_PID")
  if [[ -n $KPERF_PID ]]; then # by thread: the loop is the thread whose id is the broker's pid
    kill -INT "$KPERF_PID" 2>/dev/null
    wait "$KPERF_PID" 2>/dev/null
    perf report -i "$WORK/kafka-cleaner.perf" --no-children --sort pid,symbol --stdio 2>/dev/null |
      grep -E '^ +[0-9.]+%' | head -14 | sed 's/ *- *- *$//' >"$WORK/cleaner.top"
    KPERF_PID=""
  fi
  R[cleaner/running/note]+="broker $(sched_delta "$s0" "$s1") (loop thread = pid $SERVER_PID); "
  wait "$poller"
  m=$(metric "$SERVER_PORT" brook_log_cleaner)
  local tend
  tend=$(cat "$WORK/cleaner-done")
  local after
  after=$(du -sb "$dir" | cut -f1)
  R[cleaner/running/note]+=$(awk -v m="$m" -v tb="$tb" -v w0="$w0" -v w1="$w1" -v te="$tend" -v a="$after" -v s="$size" 'BEGIN{
    n = split(m, x, " "); for (i = 1; i <= n; i++) { split(x[i], kv, "="); v[kv[1]] = kv[2] }
    printf "cleaner: %d run(s), read %.0f MB in %.2f s = %.0f MB/s, reclaimed %.0f MB (du %.0f -> %.0f MB); ",
      v["brook_log_cleaner_runs_total"], v["brook_log_cleaner_bytes_read_total"] / 1e6, v["brook_log_cleaner_seconds_total"],
      v["brook_log_cleaner_seconds_total"] ? v["brook_log_cleaner_bytes_read_total"] / 1e6 / v["brook_log_cleaner_seconds_total"] : 0,
      v["brook_log_cleaner_bytes_reclaimed_total"] / 1e6, s / 1e6, a / 1e6
    printf "broker started at 0 s, produce run %.1f-%.1f s, first cleaning done at %.1f s; ", w0 - tb, w1 - tb, te - tb }')
  R[cleaner/running/note]+="vs cleaner/idle; "
  EXTRA+=("cleaner  filled $filled; ${R[cleaner/running/note]}produce p99 $(ms "${R[cleaner/running/p99]:-0}") ms while cleaning vs $(ms "${R[cleaner/idle/p99]:-0}") ms without")
  if [[ -s $WORK/cleaner.top ]]; then
    EXTRA+=("cleaner  broker's top frames by thread during the produce run while cleaning (perf record -g):")
    while IFS= read -r l; do EXTRA+=("           $l"); done <"$WORK/cleaner.top"
  fi
  stop_target
}

for s in "${SCENARIOS[@]}"; do
  case $s in # sixth-session scenarios: their own targets and references
  compress) bench_compress; continue ;;
  zread) bench_zread; continue ;;
  consume) bench_consume; continue ;;
  commits) bench_commits; continue ;;
  https) bench_https; continue ;;
  kafka) bench_kafka; continue ;;
  cleaner) bench_cleaner; continue ;;
  esac
  for t in $TARGETS; do
    case $s in
    produce) bench_target produce "$t" produce.lua ;;
    batch) bench_target batch "$t" batch.lua 1000 ;;
    read) bench_target read "$t" read.lua 1000 ;;
    idle) bench_idle "$t" ;;
    auth) [[ $t == broker ]] && bench_auth ;;
    esac
  done
done

# ---------------------------------------------------------------------------------------------
# the table

echo
printf '%-8s %-7s %9s %8s %8s %8s %8s %7s %11s  %s\n' scenario target req/s p50ms p90ms p99ms maxms \
  ratio srv/c0/c1% notes
echo "(ratio: broker/nginx req/s; in sixth-session rows the rate of the row named 'vs ...' in the notes)"
for row in "${ROWS[@]}"; do
  s=${row%%/*} t=${row#*/}
  if [[ -n ${R[$row/why]:-} ]]; then
    printf '%-8s %-7s %s\n' "$s" "$t" "FAILED: ${R[$row/why]}"
    continue
  fi
  if [[ $s == idle ]]; then
    b=${R[$row/rss_before]} a=${R[$row/rss_after]} o=${R[$row/open]}
    awk -v s="$s" -v t="$t" -v b="$b" -v a="$a" -v o="$o" -v n="${R[$row/note]}" 'BEGIN{
      d = a - b; printf "%-8s %-7s RSS %.1f -> %.1f MiB, +%.1f MiB for %d conns = %.0f B/conn  (%s)\n",
      s, t, b / 1024, a / 1024, d / 1024, o, o ? d * 1024 / o : 0, n }'
    continue
  fi
  ratio="-"
  if [[ $t == broker && -n ${R[$s/nginx/rps]:-} && -z ${R[$s/nginx/why]:-} ]]; then
    ratio=$(awk -v b="${R[$row/rps]}" -v n="${R[$s/nginx/rps]}" 'BEGIN{printf "%.2f", b / n}')
  fi
  # Sixth-session rows name their own reference row (R[row/ref]) and may be compared on another
  # rate than req/s (R[row/rate]: records/s).
  ref=${R[$row/ref]:-}
  if [[ -n $ref && $ref != "$row" && -z ${R[$ref/why]:-} && -n ${R[$ref/rps]:-} ]]; then
    ratio=$(awk -v b="${R[$row/rate]:-${R[$row/rps]}}" -v n="${R[$ref/rate]:-${R[$ref/rps]}}" \
      'BEGIN{printf "%.2f", n ? b / n : 0}')
  fi
  printf '%-8s %-7s %9s %8s %8s %8s %8s %7s %11s  %s\n' "$s" "$t" "${R[$row/rps]}" \
    "$(ms "${R[$row/p50]}")" "$(ms "${R[$row/p90]}")" "$(ms "${R[$row/p99]}")" \
    "$(ms "${R[$row/max]}")" "$ratio" "${R[$row/cpu]:-}" "${R[$row/note]:-}"
done

for l in "${EXTRA[@]}"; do echo "$l"; done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)   (srv/c0/c1%: server process CPU, busy % of"\
  "core $SERVER_CPU and core $CLIENT_CPU during the measured run)"

# The issue's targets: produce ratio >= 0.6 and p99 <= 5 ms; idle 10,000 conns <= 64 MiB RSS.
echo
if [[ -n ${R[produce/broker/rps]:-} && -n ${R[produce/nginx/rps]:-} ]]; then
  awk -v b="${R[produce/broker/rps]}" -v n="${R[produce/nginx/rps]}" -v p="${R[produce/broker/p99]}" 'BEGIN{
    ok = (b >= 0.6 * n && p <= 5000); printf "target produce: broker/nginx %.2f (>= 0.60), p99 %.2f ms (<= 5): %s\n",
    b / n, p / 1000, ok ? "PASS" : "FAIL" }'
fi
if [[ -n ${R[idle/broker/rss_after]:-} && -z ${R[idle/broker/why]:-} ]]; then
  awk -v b="${R[idle/broker/rss_before]}" -v a="${R[idle/broker/rss_after]}" -v o="${R[idle/broker/open]}" \
    -v want="$IDLE_CONNS" 'BEGIN{ d = (a - b) / 1024; ok = (d <= 64 && o >= want);
    printf "target idle: %d of %d conns held, +%.1f MiB RSS (<= 64): %s\n", o, want, d, ok ? "PASS" : "FAIL" }'
fi
auth_verdict
exit 0
