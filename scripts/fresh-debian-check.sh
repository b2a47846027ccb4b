#!/usr/bin/env bash
# Checks the README's two commands, `bash scripts/test.sh` and `bash scripts/demo.sh`, on a fresh
# minimal Debian 12 (bookworm) root, as a new user's machine has it: nothing installed beyond
# debootstrap's minbase variant, none of this machine's environment variables, a fresh clone of
# the committed work. Run it before resolving any issue that touches set-up (packages, tools the
# scripts or tests call, environment assumptions).
#
# Usage: sudo scripts/fresh-debian-check.sh [options]
#
# What it does:
#   1. installs debootstrap on this machine if missing (apt-get);
#   2. bootstraps `debootstrap --variant=minbase bookworm` into WORK/root, or unpacks the base
#      cached by an earlier run (WORK/base-bookworm-minbase-ARCH.tar.gz), and gives it the
#      bookworm, bookworm-updates and bookworm-security suites;
#   3. clones the repository (committed work only, at --rev) to /root/taskfp inside the root and
#      mounts the read-only material (<repository>/../shared) read-only at /root/shared beside it;
#   4. mounts /proc, /sys (read-only), /dev, /dev/pts and a fresh /dev/shm (MPI needs shared
#      memory), copies /etc/resolv.conf, and runs, as root inside `chroot` under `env -i` with
#      only PATH, HOME, TERM and LANG=C.UTF-8: `bash scripts/test.sh`, then `bash scripts/demo.sh`
#      (the scripts install their own packages with apt-get);
#   5. unmounts everything on exit (also on Ctrl-C or an error), leaves the root for inspection
#      and prints a PASS/FAIL summary with the logs (WORK/logs/).
#
# Options:
#   -w, --work DIR     work folder: base cache, root/, logs/, debs/ (env FRESH_WORK;
#                      default /var/tmp/taskfp-fresh-debian). The previous run's root is replaced.
#   -m, --mirror URL   Debian mirror (env FRESH_MIRROR; default: this machine's bookworm mirror
#                      from /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list, else
#                      http://deb.debian.org/debian). The security suite comes from this
#                      machine's sources too (env FRESH_SECURITY_MIRROR; else
#                      http://deb.debian.org/debian-security).
#   -r, --repo DIR     repository to check (default: the one this script is in)
#       --rev REV      commit to check (default HEAD); uncommitted changes are never included
#       --shared DIR   read-only material to put beside the clone (default: <repo>/../shared;
#                      left out, with a note, where it does not exist)
#       --fresh-base   bootstrap again instead of unpacking the cached base
#       --no-deb-cache do not keep the downloaded .deb files in WORK/debs between runs (by
#                      default apt inside the root downloads each package once; it still installs
#                      everything from scratch)
#       --keep-ccache  keep the root's compiler cache in WORK/ccache between runs (faster reruns;
#                      off by default, so that a check builds everything as a new user does)
#       --skip-test    run only scripts/demo.sh (as a new user who starts with the demo)
#       --skip-demo    run only scripts/test.sh
#       --remove-root  remove the root at the end (default: left in WORK/root for inspection)
#   -h, --help         this text
#
# Exit status: 0 when both commands passed (or the one not skipped), 1 when one failed, 2 for a usage error, not
# being root, or a failure to set the root up.
# shellcheck disable=SC2317  # clean-up and summary run from the EXIT trap
set -euo pipefail

# The whole script is one block, read before it runs: editing or checking out another commit
# while a check runs does not disturb it.
{
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${FRESH_WORK:-/var/tmp/taskfp-fresh-debian}
MIRROR=${FRESH_MIRROR:-}
SECURITY_MIRROR=${FRESH_SECURITY_MIRROR:-}
REPO=""
REV=HEAD
SHARED=""
FRESH_BASE=0
DEB_CACHE=1
KEEP_CCACHE=0
SKIP_TEST=0
SKIP_DEMO=0
REMOVE_ROOT=0
SUITE=bookworm
ARGS=("$@")

usage() { sed -n '2,/^set -euo pipefail/{/^# shellcheck/d;/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; }
die() { echo "fresh-debian-check: $*" >&2; exit 2; }
say() { printf '\n=== %s\n' "$*"; }

while (($#)); do
  case "$1" in
    -w|--work) WORK=${2:?--work needs a folder}; shift ;;
    --work=*) WORK=${1#*=} ;;
    -m|--mirror) MIRROR=${2:?--mirror needs a URL}; shift ;;
    --mirror=*) MIRROR=${1#*=} ;;
    -r|--repo) REPO=${2:?--repo needs a folder}; shift ;;
    --repo=*) REPO=${1#*=} ;;
    --rev) REV=${2:?--rev needs a commit}; shift ;;
    --rev=*) REV=${1#*=} ;;
    --shared) SHARED=${2:?--shared needs a folder}; shift ;;
    --shared=*) SHARED=${1#*=} ;;
    --fresh-base) FRESH_BASE=1 ;;
    --no-deb-cache) DEB_CACHE=0 ;;
    --keep-ccache) KEEP_CCACHE=1 ;;
    --skip-test) SKIP_TEST=1 ;;
    --skip-demo) SKIP_DEMO=1 ;;
    --remove-root) REMOVE_ROOT=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "fresh-debian-check: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

((SKIP_TEST && SKIP_DEMO)) && { echo "fresh-debian-check: --skip-test and --skip-demo leave nothing to check" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "must run as root (it bootstraps a Debian root, mounts into it and chroots): sudo $0 ${ARGS[*]}"

# --- the repository under test and the commit ---------------------------------------------------
command -v git >/dev/null || die "git is needed on this machine to clone the repository"
REPO=${REPO:-$(git -C "$SCRIPT_DIR" rev-parse --show-toplevel)}
REPO=$(cd "$REPO" && git rev-parse --show-toplevel) || die "not a git repository: $REPO"
SHA=$(git -C "$REPO" rev-parse --verify --quiet "$REV^{commit}") || die "no commit '$REV' in $REPO"
SHARED=${SHARED:-$REPO/../shared}
[ -d "$SHARED" ] && SHARED=$(cd "$SHARED" && pwd)

# --- the work folder: one run at a time --------------------------------------------------------
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
[ "$WORK" != / ] || die "the work folder cannot be /"
ROOT="$WORK/root"
LOGS="$WORK/logs"
ARCH=$(dpkg --print-architecture)
BASE_TAR="$WORK/base-$SUITE-minbase-$ARCH.tar.gz"
exec 9>"$WORK/.lock"
flock -n 9 || die "another check is running in $WORK"

# --- Debian mirrors: this machine's, else deb.debian.org ---------------------------------------
# host_uri SUITE: the first http(s) URI that this machine's apt sources give for SUITE.
host_uri() {
  local suite=$1 uri=""
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk -v s="$suite" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; types = 0; suites = 0; enabled = 1
        for (i = 1; i <= NF; i++) {
          line = $i
          if (line ~ /^[ \t]*#/) continue
          if (line ~ /^Types:/) { sub(/^Types:/, "", line); if ((" " line " ") ~ /[ \t]deb[ \t]/) types = 1 }
          else if (line ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", line); split(line, u, /[ \t]+/); uris = u[1] }
          else if (line ~ /^Suites:/) { sub(/^Suites:/, "", line); if ((" " line " ") ~ ("[ \t]" s "[ \t]")) suites = 1 }
          else if (line ~ /^Enabled:[ \t]*no/) enabled = 0
        }
        if (types && suites && enabled && uris ~ /^https?:\/\//) { print uris; exit }
      }' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri=$(awk -v s="$suite" '
      $1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
        if ($(i + 1) == s && $i ~ /^https?:\/\//) { print $i; exit }
      }' /etc/apt/sources.list)
  fi
  printf '%s' "${uri%/}"
}
MIRROR=${MIRROR:-$(host_uri "$SUITE")}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-$(host_uri "$SUITE-security")}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}

# --- phases, their times and the summary -------------------------------------------------------
PHASES=() STATUS=() TIMES=() PLOGS=()
record() { PHASES+=("$1"); STATUS+=("$2"); TIMES+=("$3"); PLOGS+=("$4"); }
fmt_time() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
START=$SECONDS

summary() {
  local i overall=PASS
  echo
  echo "================ fresh Debian 12 check: $(git -C "$REPO" log -1 --format='%h %s' "$SHA" | cut -c1-70)"
  for i in "${!PHASES[@]}"; do
    printf '  %-28s %-8s %8s  %s\n' "${PHASES[$i]}" "${STATUS[$i]}" "$(fmt_time "${TIMES[$i]}")" "${PLOGS[$i]}"
    case "${STATUS[$i]}" in PASS|SKIPPED) ;; *) overall=FAIL ;; esac
  done
  ((COMMANDS_RAN)) || overall=FAIL
  printf '  %-28s %-8s %8s\n' "overall" "$overall" "$(fmt_time $((SECONDS - START)))"
  if [ -d "$ROOT" ]; then
    echo "  root left for inspection: $ROOT (the repository at $ROOT/root/taskfp;"
    echo "  remove it with: rm -rf --one-file-system $ROOT)"
  fi
}

# --- clean-up: processes in the root, mounts, the root itself ----------------------------------
JOB=""
RUNNING=()  # the command running now: name, start, log (clean-up reports it as interrupted)
COMMANDS_RAN=0
CLEANED=0

# Mount points at or under the root, deepest first (/proc/self/mounts escapes blanks as \040).
mounts_under_root() {
  awk -v r="$ROOT" '{ m = $2; gsub(/\\040/, " ", m); if (m == r || index(m, r "/") == 1) print length(m) "\t" m }' \
    /proc/self/mounts | sort -rn | cut -f2-
}

# Processes whose root directory is the chroot (builds, tests, MPI daemons left behind).
kill_root_processes() {
  local sig p pids
  for sig in TERM TERM KILL KILL; do
    pids=()
    for p in /proc/[0-9]*; do
      [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && pids+=("${p#/proc/}")
    done
    ((${#pids[@]})) || return 0
    kill -s "$sig" "${pids[@]}" 2>/dev/null
    sleep 1
  done
}

unmount_root() {
  local m left
  while IFS= read -r m; do
    [ -n "$m" ] || continue
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "fresh-debian-check: could not unmount $m" >&2
  done < <(mounts_under_root)
  left=$(mounts_under_root)
  [ -z "$left" ] || { echo "fresh-debian-check: still mounted: $left" >&2; return 1; }
}

cleanup() {
  local rc=$? ok=1
  ((CLEANED)) && return 0
  CLEANED=1
  set +e
  trap - INT TERM
  if [ -n "$JOB" ]; then kill -s TERM -- "-$JOB" 2>/dev/null; wait "$JOB" 2>/dev/null; fi
  if ((${#RUNNING[@]})); then record "${RUNNING[0]}" STOPPED $((SECONDS - RUNNING[1])) "${RUNNING[2]}"; fi
  kill_root_processes
  unmount_root || ok=0
  if ((REMOVE_ROOT)) && ((ok)) && [ -d "$ROOT" ]; then rm -rf --one-file-system "$ROOT"; fi
  summary
  if ((!ok)); then
    echo "fresh-debian-check: mounts are left under $ROOT: unmount them before deleting it" >&2
    ((rc)) || rc=2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "fresh-debian-check: interrupted" >&2; exit 130' INT
trap 'echo "fresh-debian-check: terminated" >&2; exit 143' TERM

# run_logged LOG COMMAND...: runs COMMAND in its own process group (so that clean-up can stop it),
# stdin from /dev/null, output to the terminal and to LOG; returns its exit status.
run_logged() {
  local log=$1 rc=0
  shift
  # shellcheck disable=SC2016  # expanded by the inner bash
  setsid bash -c 'set -o pipefail; "$@" </dev/null 2>&1 | tee "$0"' "$log" "$@" &
  JOB=$!
  wait "$JOB" || rc=$?
  JOB=""
  return "$rc"
}

# --- 1. debootstrap on this machine ------------------------------------------------------------
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
if ((${#need[@]})); then
  say "installing ${need[*]} on this machine"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

say "fresh Debian 12 check of $REPO at $(git -C "$REPO" rev-parse --short "$SHA") (work folder $WORK)"
if [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  echo "note: $REPO has uncommitted changes; only the commit is checked"
fi
echo "mirror $MIRROR, security $SECURITY_MIRROR"

# --- 2. the root: bootstrapped or unpacked from the cached base --------------------------------
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log
if [ -e "$ROOT" ]; then
  echo "replacing the previous root $ROOT"
  kill_root_processes
  unmount_root || die "cannot unmount what is left mounted under $ROOT"
  rm -rf --one-file-system "$ROOT"
fi
t=$SECONDS
if ((FRESH_BASE)) || [ ! -s "$BASE_TAR" ]; then
  say "debootstrap --variant=minbase $SUITE $ROOT $MIRROR"
  rc=0
  RUNNING=(debootstrap "$t" "$LOGS/debootstrap.log")
  run_logged "$LOGS/debootstrap.log" debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" || rc=$?
  RUNNING=()
  if ((rc)); then
    record "debootstrap" FAIL $((SECONDS - t)) "$LOGS/debootstrap.log"
    die "debootstrap failed (exit $rc): see $LOGS/debootstrap.log"
  fi
  unmount_root || die "debootstrap left mounts under $ROOT"
  # The cache leaves out the packages debootstrap downloaded (installed already).
  tar -C "$ROOT" --numeric-owner --exclude='./var/cache/apt/archives/*.deb' -czf "$BASE_TAR.tmp" . &&
    mv "$BASE_TAR.tmp" "$BASE_TAR"
  record "debootstrap (base cached)" PASS $((SECONDS - t)) "$LOGS/debootstrap.log"
else
  say "unpacking the cached base $BASE_TAR (--fresh-base bootstraps again)"
  mkdir -p "$ROOT"
  tar -C "$ROOT" --numeric-owner -xzpf "$BASE_TAR"
  record "base from cache" PASS $((SECONDS - t)) "$BASE_TAR"
fi

# Apt sources as a Debian 12 installation has them: the release, its updates, security.
cat > "$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
# Name resolution for apt (a symlink in the root would point into this machine: replace it).
rm -f "$ROOT/etc/resolv.conf"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
# Every Debian machine and container has localhost in /etc/hosts; minbase has no /etc/hosts.
if [ ! -e "$ROOT/etc/hosts" ]; then
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$ROOT/etc/hosts"
fi

# --- 3. a fresh clone and the read-only material beside it -------------------------------------
t=$SECONDS
say "cloning $REPO at $SHA to /root/taskfp"
mkdir -p "$ROOT/root"
git clone --quiet --no-checkout "$REPO" "$ROOT/root/taskfp"
git -C "$ROOT/root/taskfp" cat-file -e "$SHA^{commit}" 2>/dev/null || git -C "$ROOT/root/taskfp" fetch --quiet "$REPO" "$SHA"
git -C "$ROOT/root/taskfp" checkout --quiet --detach "$SHA"
record "clone" PASS $((SECONDS - t)) "-"

# --- 4. what a real machine has mounted --------------------------------------------------------
mount -t proc proc "$ROOT/proc"
mount --bind /sys "$ROOT/sys"
mount -o remount,bind,ro "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mkdir -p "$ROOT/dev/pts" "$ROOT/dev/shm"
mount --bind /dev/pts "$ROOT/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev shm "$ROOT/dev/shm"
if [ -d "$SHARED" ]; then
  mkdir -p "$ROOT/root/shared"
  mount --bind "$SHARED" "$ROOT/root/shared"
  mount -o remount,bind,ro "$ROOT/root/shared"
  echo "read-only material $SHARED mounted read-only at /root/shared"
else
  echo "note: no read-only material at $SHARED (tests and demo steps that need it skip)"
fi
if ((DEB_CACHE)); then
  mkdir -p "$WORK/debs" "$ROOT/var/cache/apt/archives"
  mount --bind "$WORK/debs" "$ROOT/var/cache/apt/archives"
fi
if ((KEEP_CCACHE)); then
  mkdir -p "$WORK/ccache" "$ROOT/root/.cache/ccache"
  mount --bind "$WORK/ccache" "$ROOT/root/.cache/ccache"
fi

# --- 5. the two commands, as root in the root, with a minimal environment ----------------------
IN_ROOT=(chroot "$ROOT" /usr/bin/env -i
         PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
         HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8
         /bin/bash -c)
run_phase() {  # NAME COMMAND: runs COMMAND in /root/taskfp inside the root
  local name=$1 cmd=$2 t=$SECONDS rc=0
  say "$name (log $LOGS/$name.log)"
  RUNNING=("$cmd" "$t" "$LOGS/$name.log")
  run_logged "$LOGS/$name.log" "${IN_ROOT[@]}" "cd /root/taskfp && $cmd" || rc=$?
  RUNNING=()
  if ((rc)); then
    record "$cmd" "FAIL($rc)" $((SECONDS - t)) "$LOGS/$name.log"
  else
    record "$cmd" PASS $((SECONDS - t)) "$LOGS/$name.log"
  fi
}
if ((SKIP_TEST)); then record "bash scripts/test.sh" SKIPPED 0 "-"; else
  run_phase test "bash scripts/test.sh"
  COMMANDS_RAN=1
fi
if ((SKIP_DEMO)); then record "bash scripts/demo.sh" SKIPPED 0 "-"; else
  run_phase demo "bash scripts/demo.sh"
  COMMANDS_RAN=1
fi

failed=0
for s in "${STATUS[@]}"; do case "$s" in PASS|SKIPPED) ;; *) failed=1 ;; esac; done
exit "$failed"
}
