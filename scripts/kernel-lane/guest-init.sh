#!/bin/sh
# /init of the kernel lane's guest initramfs (busybox-static; built by scripts/kernel-lane/image.ts).
#
# Loads the kernel modules listed in /lib/modules/<release>/lane-order (dependency order), mounts the host's root read-only
# over 9p (tag host0) and the lane's share with the agent bundle (tag lane0), makes the few directories the tools
# write to writable (tmpfs), then runs the agent chrooted into the host's root: the guest runs the host's own node,
# lvm2, util-linux and drbd-utils against its own (Debian) kernel. When the agent ends, the guest powers off.
#
# Kernel command line parameters: bp.hostname=NAME, bp.node=/path/to/node, bp.ip=ADDR/PREFIX (optional, for eth0),
# bp.loglevel=LEVEL (optional, the agent's pino level).
export PATH=/bin:/sbin

say() { echo "kernel-lane init: $*"; }
die() {
  say "FATAL: $*"
  poweroff -f
  sleep 5
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# Dependency order from `modprobe --show-depends` on the host. crc32c_generic comes first: busybox's insmod ignores
# libcrc32c's softdep on a crc32c implementation ("unknown symbol in module" otherwise). A module may fail when the
# emulated CPU lacks its feature (crc32c-intel needs SSE4.2); a missing one that matters fails a later step clearly.
kver=$(uname -r)
while read -r module; do
  insmod "/lib/modules/$kver/$module" 2>/dev/null || say "insmod $module failed (ignored)"
done < "/lib/modules/$kver/lane-order"

hostname=node
node=/usr/bin/node
ip=
loglevel=info
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    bp.hostname=*) hostname=${arg#bp.hostname=} ;;
    bp.node=*) node=${arg#bp.node=} ;;
    bp.ip=*) ip=${arg#bp.ip=} ;;
    bp.loglevel=*) loglevel=${arg#bp.loglevel=} ;;
  esac
done
hostname "$hostname"

mkdir -p /host
# cache=loose: the host's files do not change under the guest during a run, and without a page cache every page of
# the node binary crosses 9p again (node -e 1 took 8 s instead of 4 s cold, 1 s warm).
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host0 /host || die "cannot mount the host's root (9p tag host0)"

# Writable places on the read-only root. The host's drbd.d/global_common.conf is kept (drbd.conf includes it).
mkdir -p /stash
cp /host/etc/drbd.d/global_common.conf /stash/ 2>/dev/null
for dir in /run /tmp /etc/lvm /etc/drbd.d /var/lib/drbd; do
  [ -d "/host$dir" ] || die "/host$dir does not exist on the host (is lvm2/drbd-utils installed there?)"
  mount -t tmpfs -o mode=0755 tmpfs "/host$dir" || die "cannot mount a tmpfs on $dir"
done
chmod 1777 /host/tmp
mkdir -p /host/run/lock /host/run/kernel-lane
[ -f /stash/global_common.conf ] && cp /stash/global_common.conf /host/etc/drbd.d/
# No udev in the guest: lvm2 creates the /dev/<vg>/<lv> nodes itself and must not wait for udev; no dmeventd.
cat > /host/etc/lvm/lvm.conf <<'EOF'
# Written by the kernel lane's guest init: lvm2 without udev and without dmeventd.
activation {
    udev_sync = 0
    udev_rules = 0
    monitoring = 0
}
devices {
    obtain_device_list_from_udev = 0
}
EOF

mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 lane0 /host/run/kernel-lane || die "cannot mount the lane share (9p tag lane0)"
mount --bind /proc /host/proc
mount --bind /sys /host/sys
mount --bind /dev /host/dev

ip link set lo up
if [ -n "$ip" ]; then
  ip addr add "$ip" dev eth0 || die "cannot set $ip on eth0"
  ip link set eth0 up
fi

port=
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = blockplane.agent ] && port=/dev/${p##*/}
done
[ -n "$port" ] || die "no virtio-serial port named blockplane.agent"

say "starting the agent on $port at $(cut -d' ' -f1 /proc/uptime) s"
# PATH: /usr/lib/drbd holds drbdadm-84/drbdsetup-84, which drbd-utils' drbdadm/drbdsetup exec on a DRBD 8.4 kernel.
chroot /host /usr/bin/env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/drbd \
  HOME=/root LC_ALL=C BLOCKPLANE_LANE_LOG_LEVEL="$loglevel" \
  "$node" /run/kernel-lane/agent.mjs "$port"
say "the agent ended with exit code $?; powering off"
sync
poweroff -f
