#!/usr/bin/env bash
# bench/run.sh: runs wrk against nginx (a fixed JSON reply: this machine's HTTP ceiling) and then
# against the Brook broker, server pinned to one core and wrk to the other, and prints one table.
# It only starts processes of its own (nginx, broker, wrk, helpers), stops exactly those by PID on
# exit, listens only on 127.0.0.1 free ports and never touches files outside its temp dir.
#
# usage: bench/run.sh [path-to-brook] [produce|batch|read|idle|auth ...]     (default: build/brook produce)
# env:   DURATION=10 WARMUP=2 CONNECTIONS=64 SERVER_CPU=0 CLIENT_CPU=1 TARGETS="nginx broker"
#        BROOK_ARGS="" (extra broker flags)  IDLE_ARGS="--max-connections 20000"  IDLE_CONNS=10000
#        READ_PAGES=200  NGINX=/usr/sbin/nginx  BENCH_DATA_PARENT=<dir for data/temp>
#        BENCH_LOG_DIR=<dir: keep raw wrk/server output there>  DISK_PROBE_S=1 (produce: disk probe)

set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
UTIL=(python3 "$BENCH_DIR/bench_util.py")
ALL_SCENARIOS="produce batch read idle auth"

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
  sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$port#g" -e "s#@USER@#$user#" \
    "$BENCH_DIR/nginx.conf.in" >"$dir/nginx.conf"
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

probe() { # port scenario -> sets PROBE_ITEMS; fails with SERVER_WHY
  local out
  out=$("${UTIL[@]}" probe "$1" "$2" 2>"$WORK/probe.err")
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
    WRK=(taskset -c "$CLIENT_CPU" wrk -t1 "-c$CONNECTIONS" "-d$1s" --timeout "$WRK_TIMEOUT"
      --latency -s "$BENCH_DIR/$script" "http://127.0.0.1:$SERVER_PORT/")
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
  [[ $target == broker && $scenario == produce ]] && flushes0=$("${UTIL[@]}" flushes "$SERVER_PORT")
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

for s in "${SCENARIOS[@]}"; do
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

ms() { awk -v us="$1" 'BEGIN{printf "%.2f", us / 1000}'; }
echo
printf '%-8s %-7s %9s %8s %8s %8s %8s %7s %11s  %s\n' scenario target req/s p50ms p90ms p99ms maxms \
  b/nginx srv/c0/c1% notes
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
  printf '%-8s %-7s %9s %8s %8s %8s %8s %7s %11s  %s\n' "$s" "$t" "${R[$row/rps]}" \
    "$(ms "${R[$row/p50]}")" "$(ms "${R[$row/p90]}")" "$(ms "${R[$row/p99]}")" \
    "$(ms "${R[$row/max]}")" "$ratio" "${R[$row/cpu]:-}" "${R[$row/note]:-}"
done

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
