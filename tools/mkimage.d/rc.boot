#!/bin/sh
# golem-mini, stage 2: busybox init's sysinit action on the root disk.
# Mounts the API file systems, sets the hostname, starts syslogd, acpid (the
# ACPI power button powers the guest off) and DHCP on eth0, and makes sure
# there is an SSH host key, and starts sshd (dropbear, keys only).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
umask 022

mounted() { grep -q "^[^ ]* $1 " /proc/mounts 2>/dev/null; }
mounted /proc || mount -t proc proc /proc
mounted /sys || mount -t sysfs sysfs /sys
mounted /dev || mount -t devtmpfs -o mode=0755 devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mounted /dev/pts || mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mounted /dev/shm || mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm
mounted /run || mount -t tmpfs -o nosuid,nodev,mode=755 tmpfs /run
mkdir -p /run/lock /var/log /var/lib/golem /tmp
[ -L /var/run ] || { rm -rf /var/run; ln -s /run /var/run; }
chmod 1777 /tmp

hostname -F /etc/hostname 2>/dev/null || hostname golem
ip link set lo up

syslogd -C256
acpid -l /var/log/acpid.log

# User-mode networking answers DHCP at once (10.0.2.15); udhcpc stays in the
# background to renew, or keeps trying if there is no answer yet.
if [ -e /sys/class/net/eth0 ]; then
    ip link set eth0 up
    udhcpc -i eth0 -s /usr/lib/golem/udhcpc.script -t 5 -T 1 -A 5 -b -S \
        -p /run/udhcpc.eth0.pid -x hostname:"$(hostname)" >/dev/null 2>&1
fi

mkdir -p /etc/dropbear
key=/etc/dropbear/dropbear_ed25519_host_key
if [ ! -s "$key" ]; then
    rm -f "$key"
    /usr/bin/dropbearkey -t ed25519 -f "$key" >/dev/null 2>&1 || echo "golem-mini: dropbearkey failed"
fi

/usr/sbin/dropbear -s -p 22 -r "$key" -P /run/dropbear.pid
echo "golem-mini: sshd listening on port 22 ($(cut -d " " -f 1 /proc/uptime) s)" >/dev/console

# Grow the file system when the disk was made larger (cheap when it was not).
rootdev=$(awk '$2 == "/" && $1 ~ /^\/dev\// { d = $1 } END { print d }' /proc/mounts)
[ -n "$rootdev" ] && (/sbin/resize2fs "$rootdev" >/dev/null 2>&1 &)
exit 0
