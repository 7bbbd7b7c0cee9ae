#!/usr/bin/env bash
# Single-node throwaway Ceph (1 mon, [1 mgr], 1 osd, 1 radosgw) on 127.0.0.1, no systemd.
# usage: start.sh DIR [memstore|bluestore]
# env: RGW_PORT=7480 MON_PORT=3300 MON_V1_PORT=6789 BIND_PORT_MIN=6800 BIND_PORT_MAX=7300 (the OSD's range)
#      WITH_MGR=0|1 (needs ceph-mgr) PAXOS_INTERVAL=0.1
# Adapted from ../shared/scaleout/start-ceph.sh: every port is configurable, so a test run picks free ones.
set -euo pipefail
T0=$(date +%s.%N); mark() { [ -n "${VERBOSE:-}" ] && echo "  +$(echo "$(date +%s.%N) - $T0" | bc | cut -c1-5)s $*" >&2 || true; }
D=${1:?dir}; STORE=${2:-memstore}; RGW_PORT=${RGW_PORT:-7480}; WITH_MGR=${WITH_MGR:-0}
MON_PORT=${MON_PORT:-3300}; MON_V1_PORT=${MON_V1_PORT:-6789}; BIND_PORT_MIN=${BIND_PORT_MIN:-6800}; BIND_PORT_MAX=${BIND_PORT_MAX:-7300}
MON_ADDR="[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]"
rm -rf "$D"; mkdir -p "$D"/{mon.a,mgr.x,osd.0,out}
C="$D/ceph.conf"; K="$D/keyring"; FSID=$(cat /proc/sys/kernel/random/uuid)
cat > "$C" <<EOF
[global]
fsid = $FSID
mon host = $MON_ADDR
ms bind port min = $BIND_PORT_MIN
ms bind port max = $BIND_PORT_MAX
public addr = 127.0.0.1
cluster addr = 127.0.0.1
keyring = $K
run dir = $D/out
log file = $D/out/\$name.log
admin socket = $D/out/\$name.asok
pid file = $D/out/\$name.pid
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
paxos propose interval = ${PAXOS_INTERVAL:-0.1}
auth allow insecure global id reclaim = false
mon data avail warn = 2
mon data avail crit = 1
osd failsafe full ratio = .99
mon osd full ratio = .99
mon osd nearfull ratio = .98
mon osd backfillfull ratio = .985
[mon.a]
mon data = $D/mon.a
[mgr]
mgr data = $D/mgr.\$id
[osd]
osd data = $D/osd.\$id
osd objectstore = $STORE
memstore device bytes = 8589934592
bluestore block path = $D/osd.\$id.block
bluestore block create = true
bluestore block size = 21474836480
bluestore fsck on mount = false
osd memory target = 1073741824
osd class load list = *
osd class default list = *
[client.rgw.r]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw dns name = localhost
rgw thread pool size = 64
# S3 wants parts of 5 MiB; smaller ones let the tests take the multipart path with small blobs.
rgw multipart min part size = 65536
log file = $D/out/rgw.log
EOF
ceph-authtool --create-keyring "$K" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$K" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
ceph-authtool "$K" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *' >/dev/null
ceph-authtool "$K" --gen-key -n mgr.x --cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *' >/dev/null
ceph-authtool "$K" --gen-key -n client.rgw.r --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
monmaptool --create --clobber --fsid "$FSID" --addv a "$MON_ADDR" "$D/monmap" >/dev/null
ceph-mon -c "$C" --mkfs -i a --monmap "$D/monmap" --keyring "$K"
ceph-mon -c "$C" -i a                                   # daemonizes
mark mon started
ceph() { command ceph -c "$C" --connect-timeout 30 "$@"; }
UUID=$(cat /proc/sys/kernel/random/uuid)
ID=$(ceph osd new "$UUID")                               # -> 0
ceph-osd -c "$C" -i "$ID" --mkfs --osd-uuid "$UUID" 2>&1 | grep -v 'no keyring' || true
ceph-osd -c "$C" -i "$ID"
mark osd started
[ "$WITH_MGR" = 1 ] && ceph-mgr -c "$C" -i x
for i in $(seq 120); do ceph osd stat -f json 2>/dev/null | grep -q '"num_up_osds":1' && break; sleep 0.5; done
ceph osd stat -f json 2>/dev/null | grep -q '"num_up_osds":1' || { echo "the OSD did not come up; see $D/out/osd.0.log" >&2; exit 1; }
if [ "${PRECREATE_POOLS:-1}" = 1 ]; then   # avoid multi-second pool creation on first bucket / first multipart
  { for p in .rgw.root default.rgw.log default.rgw.control default.rgw.meta default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec; do
      echo "osd pool create $p 8 8"; echo "osd pool application enable $p rgw"; done; } | ceph >/dev/null 2>&1
fi
mark osd up, pools ready
radosgw -c "$C" -n client.rgw.r
# wait for the S3 port (rgw creates its pools on first start)
for i in $(seq 240); do (exec 3<>/dev/tcp/127.0.0.1/$RGW_PORT) 2>/dev/null && break; sleep 0.5; done
(exec 3<>/dev/tcp/127.0.0.1/$RGW_PORT) 2>/dev/null || { echo "radosgw did not listen on $RGW_PORT; see $D/out/rgw.log" >&2; exit 1; }
mark rgw listening
radosgw-admin -c "$C" user create --uid=ci --display-name=ci --access-key=CIACCESSKEY000000000 --secret-key=cisecretkey0000000000000000000000000000 >/dev/null
echo "rgw up on http://127.0.0.1:$RGW_PORT"
