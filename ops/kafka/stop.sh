#!/usr/bin/env bash
# Stop the broker started by ops/kafka/start.sh (found through $KAFKA_DATA_DIR/kafka.pid).
# SIGTERM = controlled shutdown (logs flushed, clean-shutdown marker written, so the next
# start does no log recovery); SIGKILL only if it has not exited after KAFKA_STOP_TIMEOUT s.
# The data dir is kept.  Exits 0 if the broker was not running.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=common.sh
. "$SCRIPT_DIR/common.sh"

if ! pid="$(kafka_running_pid)"; then
  log "not running (data dir $KAFKA_DATA_DIR)"
  rm -f "$KAFKA_PID_FILE"
  exit 0
fi

log "stopping pid $pid"
stop_pid "$pid"
rm -f "$KAFKA_PID_FILE"

# The listener goes away with the process; make sure before returning so that an
# immediate start.sh does not mistake the port for a foreign process.
for _ in $(seq 1 50); do port_open "$KAFKA_PORT" || break; sleep 0.2; done
log "stopped"
