# Shell helpers for lab scripts; Lab.run sources this before each script.
# Every wait is bounded, so a stalled guest or VMM ends as a failure with evidence, not a timeout.

# wait_for FILE TEXT SECONDS: succeeds once FILE contains TEXT.
wait_for() {
  for _ in $(seq $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# wait_vmm PID SECONDS: the exit status of the jvirt-vmm (a JVM) with that PID. If it is still
# running after SECONDS, its threads are dumped to its stdout (SIGQUIT), it is killed, and the
# status is 124, as timeout(1) reports.
wait_vmm() {
  for _ in $(seq $(( $2 * 10 ))); do
    if ! kill -0 "$1" 2>/dev/null; then
      wait "$1"
      return
    fi
    sleep 0.1
  done
  echo "lab: VMM $1 still running after $2 s: its thread dump goes to its stdout, then it is killed" >&2
  kill -QUIT "$1" 2>/dev/null
  sleep 3
  kill -KILL "$1" 2>/dev/null
  wait "$1"
  return 124
}
