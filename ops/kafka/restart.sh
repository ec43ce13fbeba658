#!/usr/bin/env bash
# Clean stop then start of the broker, keeping the formatted data dir (topics, offsets,
# consumer-group commits survive).  Same environment variables as start.sh.
set -euo pipefail
SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
"$SCRIPT_DIR/stop.sh"
exec "$SCRIPT_DIR/start.sh"
