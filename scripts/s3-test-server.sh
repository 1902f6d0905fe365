#!/usr/bin/env bash
# A throw-away S3 server for tests: a one-node Ceph cluster (one mon, one OSD) and a RADOS Gateway, every
# file under DIR, listening on 127.0.0.1 only, on free ports (so several can run at once).
#
#   eval "$(bash scripts/s3-test-server.sh start DIR)"   # prints export lines; everything else on stderr
#   bash scripts/s3-test-server.sh stop DIR              # idempotent
#
# S3_TEST_OSD=memstore (default: data in RAM, fast) or bluestore (a sparse file of S3_TEST_BLUESTORE_SIZE,
# default 64G, for tests that write GBs). The bucket is created with Object Lock (hence versioned).
set -euo pipefail

PACKAGES="ceph-mon ceph-osd ceph-mgr radosgw ceph-common uuid-runtime"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STOP_ORDER=(rgw osd mon) # gateway first: the other way round the OSD waits ~5 s and the gateway ~10 s

log() { echo "[s3-test-server] $*" >&2; }
die() {
  log "$*"
  exit 1
}

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}

# A pid counts as running unless it is gone or a zombie (PID 1 here reaps exited daemons only now and then,
# and kill -0 succeeds on a zombie).
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

pid_of() {
  local f="$DIR/run/$1.pid"
  [ -s "$f" ] && cat "$f"
}

# Ports some socket listens on (IPv4 and IPv6), from the kernel's tables: no dependency on ss or netstat.
listening_ports() {
  local file
  for file in /proc/net/tcp /proc/net/tcp6; do
    [ -r "$file" ] || continue
    while read -r _ local _ state _; do
      [ "$state" = 0A ] && echo $((16#${local##*:}))
    done < <(tail -n +2 "$file")
  done
}

# The first port of a block of $1 free ports, picked at random in 20000-59999.
free_block() {
  local size=$1 used base p ok
  used=" $(listening_ports | tr '\n' ' ') "
  for _ in $(seq 1 200); do
    base=$((20000 + (RANDOM * 32768 + RANDOM) % 40000 / size * size))
    ok=1
    for ((p = base; p < base + size; p++)); do
      [[ "$used" == *" $p "* ]] && ok=0 && break
    done
    [ $ok = 1 ] && echo "$base" && return 0
  done
  die "found no $size free ports in 20000-59999"
}

ceph_cli() { ceph -c "$DIR/ceph.conf" --connect-timeout 20 "$@"; }

# Shows the end of a daemon's log, so that a failed start says why.
show_log() {
  local f="$DIR/log/$1.log"
  log "--- last lines of $f ---"
  if [ -s "$f" ]; then tail -n 30 "$f" >&2; else log "(empty)"; fi
  if [ -s "$DIR/log/$1.out" ]; then tail -n 10 "$DIR/log/$1.out" >&2; fi
}

# Waits until "$@" succeeds; fails (with the daemon's log) when daemon $1 exits or after $2 seconds.
wait_for() {
  local daemon=$1 seconds=$2 what=$3
  shift 3
  local deadline=$((SECONDS + seconds)) pid
  until "$@" >/dev/null 2>&1; do
    pid=$(pid_of "$daemon" || true)
    if [ -n "$pid" ] && ! running "$pid"; then
      show_log "$daemon"
      die "$daemon exited while waiting for $what"
    fi
    if [ $SECONDS -ge $deadline ]; then
      show_log "$daemon"
      die "timed out after ${seconds}s waiting for $what"
    fi
    sleep 0.1
  done
}

osd_up() { ceph_cli osd dump 2>/dev/null | grep -q '^osd\.0 up'; }

# HTTP 200 from the gateway, with bash's own /dev/tcp (no curl needed).
http_ok() {
  local line
  exec 3<>"/dev/tcp/127.0.0.1/$RGW_PORT" || return 1
  printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  IFS= read -r -t 5 line <&3 || line=
  exec 3>&-
  [[ "$line" == "HTTP/1."?" 200"* ]]
}

stop_daemons() {
  local name pid deadline
  for name in "${STOP_ORDER[@]}"; do
    pid=$(pid_of "$name" || true)
    [ -n "$pid" ] || continue
    if running "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 20))
      while running "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
      if running "$pid"; then
        log "$name (pid $pid) ignored SIGTERM for 20s: killing it"
        kill -KILL "$pid" 2>/dev/null || true
        while running "$pid"; do sleep 0.05; done
      fi
    fi
    rm -f "$DIR/run/$name.pid"
  done
}

start() {
  local missing=() cmd
  for cmd in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool uuidgen; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    die "missing ${missing[*]}: install the Debian packages $PACKAGES (apt-get install -y --no-install-recommends $PACKAGES)"
  fi
  [ -e "$DIR/run/mon.pid" ] && die "$DIR holds a server already (stop it first)"
  mkdir -p "$DIR"/{mon,osd,run,log}
  DIR=$(cd "$DIR" && pwd)
  # From here on, a failure stops whatever was started.
  trap 'rc=$?; if [ $rc -ne 0 ]; then log "start failed: stopping what was started"; stop_daemons; fi' EXIT

  local osd_kind=${S3_TEST_OSD:-memstore}
  case "$osd_kind" in memstore | bluestore) ;; *) die "S3_TEST_OSD must be memstore or bluestore, not $osd_kind" ;; esac
  local base fsid osd_uuid
  base=$(free_block 16)
  MON_PORT=$base
  RGW_PORT=$((base + 15))
  fsid=$(uuidgen)
  osd_uuid=$(uuidgen)
  local access_key secret_key
  access_key="LB$(uuidgen | tr -d - | tr a-z A-Z | cut -c1-18)"
  secret_key=$(uuidgen | tr -d -)$(uuidgen | tr -d - | cut -c1-8)

  cat >"$DIR/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
ms bind msgr1 = false
ms bind port min = $((base + 1))
ms bind port max = $((base + 14))
auth cluster required = none
auth service required = none
auth client required = none
# Without this the gateway waits 5 minutes for a secure mon session that "auth none" never offers.
ms mon client mode = crc
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$type.pid
log file = $DIR/log/\$type.log
mon data = $DIR/mon/\$id
osd data = $DIR/osd/\$id
# Pool commands otherwise cost ~1 s each.
paxos propose interval = 0.05
mon allow pool size one = true
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 1
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
osd objectstore = $osd_kind
memstore device bytes = ${S3_TEST_MEMSTORE_BYTES:-2147483648}
bluestore block create = true
bluestore block size = ${S3_TEST_BLUESTORE_SIZE:-64G}
osd max object name len = 460
osd max object namespace len = 64

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw data = $DIR/rgw
rgw dns name = 127.0.0.1
log file = $DIR/log/rgw.log
pid file = $DIR/run/rgw.pid
EOF

  log "mon on 127.0.0.1:$MON_PORT, gateway on 127.0.0.1:$RGW_PORT, OSD on $osd_kind, files in $DIR"
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap" >"$DIR/log/mkfs.out" 2>&1 ||
    { cat "$DIR/log/mkfs.out" >&2; die "monmaptool failed"; }
  ceph-mon -c "$DIR/ceph.conf" --mkfs -i a --monmap "$DIR/monmap" >>"$DIR/log/mkfs.out" 2>&1 ||
    { cat "$DIR/log/mkfs.out" >&2; die "ceph-mon --mkfs failed"; }
  ceph-mon -c "$DIR/ceph.conf" -i a >"$DIR/log/mon.out" 2>&1 || { show_log mon; die "ceph-mon did not start"; }
  # The OSD's id and the gateway's pools in one session (each ceph command line costs ~0.5 s to start);
  # the gateway creating its pools itself takes ~11 s more.
  local pools=(.rgw.root default.rgw.control default.rgw.meta default.rgw.log default.rgw.buckets.index
    default.rgw.buckets.non-ec default.rgw.buckets.data) pool
  {
    echo "osd new $osd_uuid 0"
    for pool in "${pools[@]}"; do
      echo "osd pool create $pool 8 8"
      echo "osd pool application enable $pool rgw"
    done
  } | ceph_cli >>"$DIR/log/mkfs.out" 2>&1 || { tail -n 20 "$DIR/log/mkfs.out" >&2; show_log mon; die "creating the OSD and pools failed"; }
  mkdir -p "$DIR/osd/0"
  ceph-osd -c "$DIR/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$DIR/log/mkfs.out" 2>&1 ||
    { tail -n 20 "$DIR/log/mkfs.out" >&2; show_log osd; die "ceph-osd --mkfs failed"; }
  ceph-osd -c "$DIR/ceph.conf" -i 0 >"$DIR/log/osd.out" 2>&1 || { show_log osd; die "ceph-osd did not start"; }
  wait_for osd 60 "osd.0 up" osd_up

  radosgw -c "$DIR/ceph.conf" -n client.rgw >"$DIR/log/rgw.out" 2>&1 || { show_log rgw; die "radosgw did not start"; }
  wait_for rgw 60 "the gateway to answer HTTP on 127.0.0.1:$RGW_PORT" http_ok

  radosgw-admin -c "$DIR/ceph.conf" user create --uid test --display-name test \
    --access-key "$access_key" --secret-key "$secret_key" >/dev/null 2>>"$DIR/log/mkfs.out" ||
    { tail -n 20 "$DIR/log/mkfs.out" >&2; die "radosgw-admin user create failed"; }

  local endpoint="http://127.0.0.1:$RGW_PORT" bucket=lifeboat-test
  # One S3 call (an Object Lock bucket) through the SDK the repository uses; the secret goes by environment,
  # never on a command line.
  (cd "$ROOT/packages/repository" &&
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true S3_ENDPOINT=$endpoint S3_BUCKET=$bucket S3_ACCESS_KEY=$access_key S3_SECRET_KEY=$secret_key node - <<'JS'
const { S3Client, CreateBucketCommand } = require("@aws-sdk/client-s3");
const e = process.env;
const s3 = new S3Client({
  endpoint: e.S3_ENDPOINT,
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: e.S3_ACCESS_KEY, secretAccessKey: e.S3_SECRET_KEY },
});
s3.send(new CreateBucketCommand({ Bucket: e.S3_BUCKET, ObjectLockEnabledForBucket: true })).catch((err) => {
  console.error(`creating bucket ${e.S3_BUCKET} at ${e.S3_ENDPOINT} failed: ${err.name} ${err.message}`);
  process.exit(1);
});
JS
  ) || die "creating the bucket failed"

  trap - EXIT
  log "ready: $endpoint, bucket $bucket"
  cat <<EOF
export LIFEBOAT_S3_ENDPOINT=$endpoint
export AWS_ACCESS_KEY_ID=$access_key
export AWS_SECRET_ACCESS_KEY=$secret_key
export LIFEBOAT_S3_BUCKET=$bucket
export LIFEBOAT_S3_PATH_STYLE=true
export AWS_REGION=us-east-1
EOF
}

[ $# -eq 2 ] || usage
DIR=$2
case "$1" in
  start) start ;;
  stop)
    [ -d "$DIR" ] || exit 0
    DIR=$(cd "$DIR" && pwd)
    stop_daemons
    ;;
  *) usage ;;
esac
