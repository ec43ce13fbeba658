# shellcheck shell=bash disable=SC2034
# Shared settings and helpers for ops/kafka/{start,stop,restart}.sh -- sourced, not run.
# Expects SCRIPT_DIR (this directory, absolute) to be set by the caller.

KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-/tmp/hcp-kafka}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_LOG_LEVEL="${KAFKA_LOG_LEVEL:-INFO}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-60}"
MVN="${MVN:-mvn}"

mkdir -p "$KAFKA_DATA_DIR"
KAFKA_DATA_DIR="$(cd -- "$KAFKA_DATA_DIR" && pwd -P)"
KAFKA_LOG_DIR="$KAFKA_DATA_DIR/logs"
KAFKA_LOG_FILE="$KAFKA_LOG_DIR/server.log"
KAFKA_PID_FILE="$KAFKA_DATA_DIR/kafka.pid"
KAFKA_CONFIG="$KAFKA_DATA_DIR/server.properties"
KAFKA_LIB_DIR="${KAFKA_LIB_DIR:-$SCRIPT_DIR/.lib}"
KAFKA_POM="$SCRIPT_DIR/pom.xml"
# Maven profile in pom.xml: kafka4 (Kafka 4.3.1, default) or kafka3 (Kafka 3.9.2 fallback).
KAFKA_PROFILE="${KAFKA_PROFILE:-kafka4}"
# The SHA-256 of every jar of the profile, pinned: checked after each resolve and at every start.
KAFKA_JARS_SHA256="${KAFKA_JARS_SHA256:-$SCRIPT_DIR/jars-$KAFKA_PROFILE.sha256}"
# Extra maven args for the resolve (e.g. -o, -Dmaven.repo.local=...); not part of the stamp.
KAFKA_MVN_OPTS="${KAFKA_MVN_OPTS:-}"

# Both logging configs are passed: Kafka 4.x (log4j2) reads the first, 3.x (reload4j) the second.
KAFKA_JVM_COMMON=(
  -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$SCRIPT_DIR/log4j2.properties"
  "-Dlog4j.configuration=file:$SCRIPT_DIR/log4j.properties"
  "-Dkafka.root.log.level=$KAFKA_LOG_LEVEL"
  "-Dkafka.logs.dir=$KAFKA_LOG_DIR"
)

log() { echo "[kafka] $*" >&2; }
die() { echo "[kafka] ERROR: $*" >&2; exit 1; }

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# stop_pid PID: SIGTERM, wait up to KAFKA_STOP_TIMEOUT for it to exit, then SIGKILL and wait.
# Returns only once the process is gone, so its ports and files are free.
stop_pid() {
  local pid="$1" deadline
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(( $(date +%s) + KAFKA_STOP_TIMEOUT ))
  while pid_alive "$pid" && (( $(date +%s) < deadline )); do sleep 0.2; done
  if pid_alive "$pid"; then
    log "pid $pid still alive after ${KAFKA_STOP_TIMEOUT}s; sending SIGKILL (next start will recover logs)"
    kill -KILL "$pid" 2>/dev/null || true
    while pid_alive "$pid"; do sleep 0.2; done
  fi
}

# True if pid $1 exists and is not a zombie.
pid_alive() {
  local pid="$1" state
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  [[ "$state" != "Z" ]]
}

# Prints the broker's pid and returns 0 if the pid file names a live kafka.Kafka process
# running this data dir's config (guards against a stale pid file whose pid was reused).
kafka_running_pid() {
  local pid
  [[ -f "$KAFKA_PID_FILE" ]] || return 1
  pid="$(tr -dc '0-9' <"$KAFKA_PID_FILE")"
  pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $KAFKA_CONFIG" || return 1
  echo "$pid"
}

# wait_for_broker PID LOGFILE: ready = port open and (if LOGFILE given) the server logged
# "Kafka Server started", i.e. it has caught up with the metadata log and is unfenced.
wait_for_broker() {
  local pid="$1" logfile="$2" deadline=$(( $(date +%s) + KAFKA_START_TIMEOUT ))
  while (( $(date +%s) < deadline )); do
    pid_alive "$pid" || { log "broker process $pid exited"; return 1; }
    if port_open "$KAFKA_PORT"; then
      if [[ -z "$logfile" ]] || grep -q 'Kafka Server started' "$logfile" 2>/dev/null; then
        return 0
      fi
    fi
    sleep 0.5
  done
  return 1
}

# Kafka cluster ids are 16 random bytes, base64url without padding (22 chars).
# One starting with '-' would be read as an option by the storage tool: draw again.
random_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" != -* && ${#id} -eq 22 ]] && { echo "$id"; return; }
  done
}

# Version of the resolved broker jar, e.g. 4.3.1 (empty before the first resolve).
kafka_version() {
  local jar
  for jar in "$KAFKA_LIB_DIR"/kafka_2.13-*.jar; do
    [[ -f "$jar" ]] || continue
    jar="${jar##*/kafka_2.13-}"
    echo "${jar%.jar}"
    return
  done
}

# verify_jars DIR: every jar in DIR is one pinned in KAFKA_JARS_SHA256 with that SHA-256, and every pinned one is there.
verify_jars() {
  local dir="$1" listed actual
  [[ -f "$KAFKA_JARS_SHA256" ]] || die "no pinned checksums at $KAFKA_JARS_SHA256"
  ( cd "$dir" && sha256sum --quiet --strict -c "$KAFKA_JARS_SHA256" ) >&2 || return 1
  listed="$(awk '{print $2}' "$KAFKA_JARS_SHA256" | sort)"
  actual="$(cd "$dir" && ls -1 -- *.jar 2>/dev/null | sort)"
  [[ "$listed" == "$actual" ]] || { log "jars in $dir are not the pinned set"; return 1; }
}

# Fill $KAFKA_LIB_DIR from Maven Central unless it already matches pom.xml + KAFKA_PROFILE + the
# pinned checksums; then check every jar against its pinned SHA-256 (at every start: a jar
# changed on disk since is refused, not run). One resolve at a time per lib dir, which every
# data dir shares.
ensure_jars() {
  local want have="" tmp
  [[ "$KAFKA_PROFILE" =~ ^kafka[34]$ ]] || die "KAFKA_PROFILE must be kafka4 or kafka3, not '$KAFKA_PROFILE'"
  mkdir -p "$(dirname "$KAFKA_LIB_DIR")"
  exec 8>"$KAFKA_LIB_DIR.lock"
  flock -w 600 8 || die "timed out waiting for another resolve of $KAFKA_LIB_DIR"
  want="$( { cat "$KAFKA_POM" "$KAFKA_JARS_SHA256"; echo "profile:$KAFKA_PROFILE"; } | sha256sum | cut -d' ' -f1)"
  [[ -f "$KAFKA_LIB_DIR/.resolved" ]] && have="$(cat "$KAFKA_LIB_DIR/.resolved")"
  if [[ "$have" != "$want" ]]; then
    command -v "$MVN" >/dev/null 2>&1 || die "$MVN not found on PATH; it is needed once to fetch the Kafka jars"
    log "resolving Kafka jars (profile $KAFKA_PROFILE) from Maven Central into $KAFKA_LIB_DIR"
    tmp="$KAFKA_LIB_DIR.partial.$$"
    rm -rf "$tmp"
    # --strict-checksums: a jar whose checksum does not match the repository's fails the resolve
    # (Maven 3 only warns by default). Output kept in a file and shown only on failure.
    # shellcheck disable=SC2086
    if ! $MVN -B -q --strict-checksums -Dstyle.color=never -f "$KAFKA_POM" package "-P$KAFKA_PROFILE" "-Dkafka.lib.dir=$tmp" \
        $KAFKA_MVN_OPTS >"$tmp.mvn.log" 2>&1; then
      cat "$tmp.mvn.log" >&2
      rm -rf "$tmp" "$tmp.mvn.log"
      die "maven could not resolve the Kafka jars (needs Maven Central)"
    fi
    rm -f "$tmp.mvn.log"
    if ! verify_jars "$tmp"; then
      rm -rf "$tmp"
      die "the resolved jars do not match their pinned SHA-256 in $KAFKA_JARS_SHA256"
    fi
    echo "$want" >"$tmp/.resolved"
    rm -rf "$KAFKA_LIB_DIR"
    mv "$tmp" "$KAFKA_LIB_DIR"
    rm -rf "$SCRIPT_DIR/target"
  elif ! verify_jars "$KAFKA_LIB_DIR"; then
    die "a jar in $KAFKA_LIB_DIR no longer matches its pinned SHA-256: remove $KAFKA_LIB_DIR to resolve the jars again"
  fi
  exec 8>&-
}
