#!/usr/bin/env bash
# tools/fresh-machine.sh: run the README's two commands as a newcomer would, each as the first command
# on a new Debian 12 machine, and say what failed.
#
#   sudo tools/fresh-machine.sh [--commit REV] [--keep] [--only test|run] [WORKDIR]
#
# The machine is a minimal Debian 12 (`debootstrap --variant=minbase bookworm`) plus git and make
# (and ca-certificates, which git brings), nothing else. For each of `make test` and `make run` it
# takes a new copy of that machine, clones this repository into it (REV, default HEAD: commit what
# you want checked) and runs the command there, first thing, with the output in WORKDIR/LOG. The
# host's certificate authorities and apt settings are copied in, as the host trusts them (the
# registries are reached through a proxy); NODE_EXTRA_CA_CERTS is set as on the host. TLS checks
# are never turned off. The pristine base is kept in WORKDIR/base and reused (delete it to start
# over); the per-command copies are removed unless --keep. The command runs as root (as CI does) with
# what a login has: HOME, USER, LOGNAME, SHELL, PATH, LANG=C.UTF-8, /proc, /sys, /dev, /dev/pts and
# a /dev/shm of its own. It prints one line per command: ok or FAILED, with the "N passed, M failed"
# line and the failing suites (or the end of the output when it stopped before the tests); a
# process the command left running in the machine (a simulator not stopped) also counts as a failure.
#
# Exit status: 0 when both commands succeeded, 1 otherwise. Needs root (debootstrap, chroot, mount).
set -u
# The whole script is one block, read before it runs: editing or checking out the file during a run
# (which takes half an hour) does not change what the running copy does.
{
rev=HEAD keep=0 only=
while (($#)); do
  case $1 in
    --commit) rev=$2; shift 2;;
    --keep) keep=1; shift;;
    --only) only=$2; shift 2;;
    -h|--help) sed -n '2,/^# Exit status/p' "$0"; exit 0;;
    *) break;;
  esac
done
work=${1:-/var/tmp/fql-fresh}
repo=$(cd "$(dirname "$0")/.." && pwd)
say() { printf 'fresh-machine: %s\n' "$*"; }
[[ $(id -u) = 0 ]] || { say "needs root (debootstrap, chroot and mount)"; exit 1; }
command -v debootstrap >/dev/null || {
  say "installing debootstrap on the host"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null || exit 1
}
mkdir -p "$work" && work=$(cd "$work" && pwd -P)
sha=$(git -C "$repo" rev-parse --verify "$rev^{commit}") || { say "no such revision: $rev"; exit 1; }

in_root() {   # ROOT, shell command: runs it inside the chroot as root, with the host's CA trust
  local root=$1; shift
  chroot "$root" /usr/bin/env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/bash \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 TERM=dumb NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt /bin/bash -c "$*"
}
mounts=()
mount_all() {   # ROOT: what a booted machine has (proc, sys, dev, /dev/pts, /dev/shm)
  local root=$1 m
  for m in proc sys dev dev/pts; do
    mkdir -p "$root/$m"
    case $m in
      proc) mount -t proc proc "$root/proc";;
      sys) mount -t sysfs sys "$root/sys";;
      dev) mount --bind /dev "$root/dev";;
      dev/pts) mount -t devpts devpts "$root/dev/pts" -o newinstance,ptmxmode=0666 2>/dev/null || mount --bind /dev/pts "$root/dev/pts";;
    esac && mounts=("$root/$m" "${mounts[@]}")
  done
  mkdir -p "$root/dev/shm" && mount -t tmpfs shm "$root/dev/shm" && mounts=("$root/dev/shm" "${mounts[@]}")
}
umount_all() { local m; for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null; done; mounts=(); }
remove_root() {   # ROOT: deletes a machine, never while something is mounted in it (/dev is the host's)
  if awk -v r="$1/" 'index($2 "/", r) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    say "not removing $1: something is still mounted in it (see /proc/mounts)"; return 1
  fi
  rm -rf "$1"
}
leftovers() {   # ROOT: stops (by pid) what the command left running in the machine; says what it was
  local pid names=() pids=()
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [[ $(readlink "/proc/$pid/root" 2>/dev/null) == "$1" ]] || continue
    pids+=("$pid"); names+=("$(cat "/proc/$pid/comm" 2>/dev/null)")
  done
  ((${#pids[@]})) || return 0
  kill -KILL "${pids[@]}" 2>/dev/null; sleep 0.5
  echo "${#pids[@]} process(es) left running after it, now stopped: ${names[*]}"
}
trap umount_all EXIT

# 1. The pristine machine: minbase Debian 12, then git and make as a newcomer installs them.
base=$work/base
if [[ ! -f $base/.fql-base-ready ]]; then
  if [[ -e $base ]]; then remove_root "$base" || exit 1; fi
  say "debootstrap --variant=minbase bookworm (once; kept in $base)"
  debootstrap --variant=minbase bookworm "$base" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
    || { say "debootstrap failed: see $work/debootstrap.log"; exit 1; }
  # the host's apt settings for the proxied archive, and its certificate authorities
  cp /etc/apt/apt.conf.d/99* "$base/etc/apt/apt.conf.d/" 2>/dev/null
  cp /etc/resolv.conf "$base/etc/resolv.conf" 2>/dev/null
  mkdir -p "$base/usr/local/share/ca-certificates"
  cp -R /usr/local/share/ca-certificates/. "$base/usr/local/share/ca-certificates/" 2>/dev/null
  mount_all "$base"
  in_root "$base" 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git make ca-certificates >/dev/null && update-ca-certificates >/dev/null' \
    >"$work/base.log" 2>&1 || { umount_all; say "installing git and make failed: see $work/base.log"; exit 1; }
  umount_all
  touch "$base/.fql-base-ready"
fi

# 2. One new machine per command: clone, then the command as the first thing run.
status=0
for cmd in test run; do
  [[ -n $only && $only != "$cmd" ]] && continue
  root=$work/machine-$cmd log=$work/make-$cmd.log
  if [[ -e $root ]]; then remove_root "$root" || exit 1; fi
  cp -a "$base" "$root"
  git clone -q --no-local "$repo" "$root/home/newcomer/fql" && git -C "$root/home/newcomer/fql" checkout -q "$sha"
  mount_all "$root"
  say "make $cmd on a new machine (commit ${sha:0:10}), output in $log"
  start=$SECONDS
  in_root "$root" "cd /home/newcomer/fql && make $cmd" >"$log" 2>&1; rc=$?
  left=$(leftovers "$(cd "$root" && pwd -P)")
  umount_all
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
  if ((rc == 0)); then
    say "make $cmd: ok in $((SECONDS - start)) s${summary:+ ($summary)}"
  else
    status=1
    say "make $cmd: FAILED (exit $rc) after $((SECONDS - start)) s${summary:+ ($summary)}"
    if grep -q '^failing suites: ' "$log"; then
      grep '^failing suites: ' "$log" | tail -n 1 | sed 's/^/  /'
    else   # it stopped before the tests (install, build, an example): the end of its output says where
      grep -vE '^(ok |cc |ar |cp |cd |lemon |re2c )' "$log" | tail -n 8 | sed 's/^/  | /'
    fi
  fi
  [[ -n $left ]] && { status=1; say "make $cmd: FAILED: $left"; }
  ((keep)) || remove_root "$root"
done
exit $status
}
