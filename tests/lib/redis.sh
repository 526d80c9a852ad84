# A private redis-server for the tests of shared state (--shared): source it after tests/lib/setup.sh.
# redis_start [PORT]: starts one on 127.0.0.1 (a free port unless PORT is given), without
# persistence, and sets REDIS_PORT, REDIS_URL (redis://127.0.0.1:PORT/0) and redispid.
# redis_stop: stops it (SIGTERM); redis_kill: kills it (SIGKILL: a crash). The scratch directory's
# cleanup (setup.sh) stops it too.
redispid=
redis_start() {
  local want=${1:-} p
  for _ in $(seq 20); do
    # below the kernel's ephemeral range (ip_local_port_range, 32768-60999 by default): a port
    # there can be taken, between a stop and a restart on it, by any process's outgoing connection
    # or port-0 listener (fql-sim's), which made "redis restart" fail while other suites ran
    p=${want:-$((20000 + RANDOM % 12000))}
    redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
      --dir "$dir" > "$dir/redis-$p.log" 2>&1 & redispid=$!
    for _ in $(seq 100); do
      [[ $(redis-cli -p "$p" ping 2>/dev/null) == PONG ]] && { REDIS_PORT=$p; REDIS_URL="redis://127.0.0.1:$p/0"; return 0; }
      kill -0 "$redispid" 2>/dev/null || break
      sleep 0.05
    done
    kill -KILL "$redispid" 2>/dev/null; wait "$redispid" 2>/dev/null; redispid=
    [[ -n $want ]] && sleep 0.2   # the same port: it may still be in use for a moment
  done
  echo "redis-server did not start: $(tail -5 "$dir"/redis-*.log 2>/dev/null)"; return 1
}
redis_stop() { [[ -n $redispid ]] && { kill -TERM "$redispid" 2>/dev/null; wait "$redispid" 2>/dev/null; }; redispid=; }
redis_kill() { [[ -n $redispid ]] && { kill -KILL "$redispid" 2>/dev/null; wait "$redispid" 2>/dev/null; }; redispid=; }
eval "redis_prev_$(declare -f cleanup)"
cleanup() { redis_kill; redis_prev_cleanup; }
