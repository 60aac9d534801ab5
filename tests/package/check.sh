#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# make check-package: install the Debian packages built by `make deb` into a
# clean Debian 12 root (debootstrap --variant=minbase, chroot), the way an
# admin would (dpkg -i, then apt-get -f install for the dependencies), and
# check what the packages promise (docs/operations.md, "Installing the
# Debian package"):
#   - the kanal system user and group exist; /var/lib/kanal is kanal:kanal
#     0750, /etc/kanal root:kanal 0750, /etc/kanal/credentials root 0700;
#   - no kanald runs after the install, and the enabled unit cannot start
#     one before /etc/kanal/kanal.conf exists (ConditionPathExists=);
#   - the installed kanald, run as kanal on a config written from the
#     shipped example, serves and writes its store; kanalctl reads it;
#   - libraries and .pc files are in the multiarch folder;
#   - dpkg --purge removes /etc/kanal and keeps the store (and the user);
#     KANAL_PURGE_STORE=yes dpkg --purge removes the store too.
#
#   tests/package/check.sh DEB_DIR WORK_DIR
#
# The debootstrap tarball is cached in WORK_DIR (delete it to refresh); the
# mirror is the one the host's apt uses for bookworm (KANAL_DEBIAN_MIRROR
# overrides it). Needs root (chroot, mount) and network access to the mirror.
set -euo pipefail

DEBS=$(realpath "$1")
WORK=$(realpath -m "$2")
TARBALL=$WORK/bookworm-minbase.tgz
ROOT=$WORK/root
SUITE=bookworm
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
T0=$(date +%s)

fail() { echo "check-package: FAIL: $*" >&2; exit 1; }
ok() { echo "check-package: ok: $*"; }
step() { echo "check-package: [$(($(date +%s) - T0))s] $*"; }

[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot, mount): run it as root"
for t in debootstrap dpkg-architecture chroot; do
    command -v "$t" >/dev/null || fail "$t not found (make deps-deb installs it)"
done
ls "$DEBS"/kanal_*.deb >/dev/null 2>&1 || fail "no kanal_*.deb in $DEBS (run make deb)"

mirror=${KANAL_DEBIAN_MIRROR:-$(apt-get indextargets --format '$(REPO_URI) $(CODENAME)' \
    'Identifier: Packages' 2>/dev/null | awk -v s=$SUITE '$2 == s { print $1; exit }')}
mirror=${mirror:-http://deb.debian.org/debian/}

in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"; }
# Every process whose root directory is the clean root (a daemon a
# maintainer script started would be one).
procs_in_root() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] \
            && echo "${p#/proc/} $(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)"
    done
    return 0
}
KANALD_PID=
cleanup() {
    [ -n "$KANALD_PID" ] && kill "$KANALD_PID" 2>/dev/null && wait "$KANALD_PID" 2>/dev/null
    mountpoint -q "$ROOT/proc" && umount "$ROOT/proc"
    return 0
}
trap cleanup EXIT

# ---- a clean Debian 12 root ----
if mountpoint -q "$ROOT/proc" 2>/dev/null; then umount "$ROOT/proc"; fi
rm -rf "$ROOT"
mkdir -p "$WORK"
if [ ! -s "$TARBALL" ]; then
    step "downloading $SUITE (minbase) from $mirror into $TARBALL"
    debootstrap --variant=minbase --make-tarball="$TARBALL.tmp" $SUITE "$WORK/tarball-work" "$mirror" \
        > "$WORK/debootstrap-tarball.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap-tarball.log"; fail "debootstrap --make-tarball"; }
    rm -rf "$WORK/tarball-work"
    mv "$TARBALL.tmp" "$TARBALL"
fi
step "debootstrap $SUITE into $ROOT"
debootstrap --variant=minbase --unpack-tarball="$TARBALL" $SUITE "$ROOT" "$mirror" \
    > "$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mount -t proc proc "$ROOT/proc"
in_root dpkg-query -W kanal >/dev/null 2>&1 && fail "the clean root already has kanal"
in_root getent passwd kanal >/dev/null && fail "the clean root already has a kanal user"

# ---- install as an admin would ----
mkdir -p "$ROOT/tmp/debs"
cp "$DEBS"/kanal_*.deb "$DEBS"/libkanal1_*.deb "$DEBS"/libkanal-dev_*.deb \
   "$DEBS"/kanal-plugin-dev_*.deb "$ROOT/tmp/debs/"
step "dpkg -i (its dependencies are missing in a minbase root)"
in_root sh -c 'dpkg -i /tmp/debs/*.deb' > "$WORK/dpkg-i.log" 2>&1 || true
step "apt-get -f install"
in_root apt-get update -qq > "$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log"; fail "apt-get update in the clean root"; }
in_root apt-get -f install -y -qq --no-install-recommends >> "$WORK/apt.log" 2>&1 \
    || { tail -30 "$WORK/apt.log"; fail "apt-get -f install"; }
for p in kanal libkanal1 libkanal-dev kanal-plugin-dev; do
    s=$(in_root dpkg-query -W -f='${Status}' $p)
    [ "$s" = "install ok installed" ] || fail "$p is '$s' after apt-get -f install"
done
ok "dpkg -i + apt-get -f install: kanal, libkanal1, libkanal-dev, kanal-plugin-dev installed"

# ---- user, folders, owners ----
IFS=: read -r _ _ uid gid _ home shell < <(in_root getent passwd kanal) || fail "no kanal user"
[ "$uid" -lt 1000 ] || fail "kanal is not a system user (uid $uid)"
[ "$home" = /var/lib/kanal ] && [ "$shell" = /usr/sbin/nologin ] \
    || fail "kanal user: home $home shell $shell"
[ "$(in_root getent group kanal | cut -d: -f3)" = "$gid" ] || fail "kanal's primary group is not kanal"
ok "system user kanal (uid $uid), group kanal, home /var/lib/kanal, no login shell"
# Names as the clean root knows them (the host's uids differ).
owner() { in_root stat -c '%U:%G %a' "$1"; }
[ "$(owner /var/lib/kanal)" = "kanal:kanal 750" ] || fail "/var/lib/kanal is $(owner /var/lib/kanal)"
[ "$(owner /etc/kanal)" = "root:kanal 750" ] || fail "/etc/kanal is $(owner /etc/kanal)"
[ "$(owner /etc/kanal/credentials)" = "root:root 700" ] \
    || fail "/etc/kanal/credentials is $(owner /etc/kanal/credentials)"
ok "/var/lib/kanal kanal:kanal 0750, /etc/kanal root:kanal 0750, /etc/kanal/credentials root 0700"

# ---- conffiles; no daemon without a config ----
in_root dpkg-query -W -f='${Conffiles}\n' kanal | grep -q '^ /etc/kanal/kanal.conf.example ' \
    || fail "/etc/kanal/kanal.conf.example is not a conffile"
[ ! -e "$ROOT/etc/kanal/kanal.conf" ] || fail "the package installed /etc/kanal/kanal.conf"
unit=$ROOT/lib/systemd/system/kanald.service
grep -qx 'ConditionPathExists=/etc/kanal/kanal.conf' "$unit" \
    || fail "kanald.service has no ConditionPathExists=/etc/kanal/kanal.conf"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/kanald.service" ] \
    || fail "kanald.service is not enabled (it would not start at boot once configured)"
left=$(procs_in_root)
[ -z "$left" ] || fail "processes run in the clean root after the install: $left"
ok "only kanal.conf.example shipped (a conffile); kanald.service enabled with" \
   "ConditionPathExists=/etc/kanal/kanal.conf; no process started"
out=$(in_root /usr/sbin/kanald -c /etc/kanal/kanal.conf 2>&1) && fail "kanald started without a config"
echo "$out" | grep -q /etc/kanal/kanal.conf || fail "kanald without a config says: $out"
ok "kanald run by hand without a config exits non-zero naming /etc/kanal/kanal.conf"

# ---- libraries in the multiarch folder ----
for f in libkanal.so.1 libkanal.so libkanal.a libkanal-plugin-kit.a pkgconfig/kanal.pc \
         pkgconfig/kanal-plugin.pc; do
    [ -e "$ROOT/usr/lib/$MA/$f" ] || fail "/usr/lib/$MA/$f missing"
done
grep -qx "libdir=/usr/lib/$MA" "$ROOT/usr/lib/$MA/pkgconfig/kanal.pc" || fail "kanal.pc's libdir"
in_root /usr/bin/kanalctl --help >/dev/null 2>&1 || fail "kanalctl --help"
for f in /usr/share/doc/kanal/copyright /usr/share/doc/kanal/README.md /usr/share/doc/kanal/docs/operations.md \
         /usr/share/man/man8/kanald.8.gz /usr/share/man/man7/kanal-plugin.7.gz \
         /usr/lib/sysusers.d/kanal.conf /usr/lib/tmpfiles.d/kanal.conf; do
    [ -e "$ROOT$f" ] || fail "$f missing"
done
ok "libraries and .pc files in /usr/lib/$MA, docs, man pages, sysusers and tmpfiles snippets installed"

# ---- the installed daemon runs as kanal on the shipped example ----
sed -e 's/^listen *=.*/listen = 127.0.0.1:0/' "$ROOT/etc/kanal/kanal.conf.example" \
    > "$ROOT/etc/kanal/kanal.conf"
chroot "$ROOT" chgrp kanal /etc/kanal/kanal.conf
chmod 0640 "$ROOT/etc/kanal/kanal.conf"
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf 'crm read %s\n' "$token" > "$ROOT/etc/kanal/api-tokens"
chroot "$ROOT" chgrp kanal /etc/kanal/api-tokens
chmod 0640 "$ROOT/etc/kanal/api-tokens"
# What systemd's LoadCredential= would hand kanald (kanal.conf: cred:NAME).
creds=$ROOT/run/kanal-credentials
install -d -m 0700 "$creds"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$creds/crm-forms-secret"
chroot "$ROOT" chown -R kanal:kanal /run/kanal-credentials
in_root env CREDENTIALS_DIRECTORY=/run/kanal-credentials /usr/sbin/kanald --check-config \
    -c /etc/kanal/kanal.conf > "$WORK/check-config.log" 2>&1 \
    || { cat "$WORK/check-config.log"; fail "kanald --check-config on the example"; }
chroot "$ROOT" setpriv --reuid=kanal --regid=kanal --init-groups --inh-caps=-all \
    env -i CREDENTIALS_DIRECTORY=/run/kanal-credentials /usr/sbin/kanald -c /etc/kanal/kanal.conf \
    > "$WORK/kanald.log" 2>&1 &
KANALD_PID=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/kanald.log" | head -1)
    [ -n "$port" ] && break
    kill -0 $KANALD_PID 2>/dev/null || break
    sleep 0.1
done
[ -n "$port" ] || { cat "$WORK/kanald.log"; fail "the installed kanald did not start as kanal"; }
# /healthz needs no token; the feed needs the token kanald read from
# /etc/kanal/api-tokens (root:kanal 0640) through its group.
codes=$(python3 - "http://127.0.0.1:$port" "$token" <<'PY' 2>&1
import sys, urllib.request, urllib.error
def status(path, headers={}):
    try:
        return urllib.request.urlopen(urllib.request.Request(sys.argv[1] + path, headers=headers),
                                      timeout=10).status
    except urllib.error.HTTPError as e:
        return e.code
print(status("/healthz"), status("/v1/interactions", {"Authorization": "Bearer " + sys.argv[2]}),
      status("/v1/interactions", {"Authorization": "Bearer wrong"}))
PY
) || true
[ "$codes" = "200 200 401" ] || { cat "$WORK/kanald.log"; fail "/healthz, feed, feed with a wrong token: $codes"; }
kill -TERM $KANALD_PID; wait $KANALD_PID || { cat "$WORK/kanald.log"; fail "kanald did not stop cleanly"; }
KANALD_PID=
[ "$(owner /var/lib/kanal/data.mdb | cut -d' ' -f1)" = kanal:kanal ] \
    || fail "the store is not kanal's: $(owner /var/lib/kanal/data.mdb)"
in_root /usr/bin/kanalctl -s /var/lib/kanal check > "$WORK/kanalctl.log" 2>&1 \
    || { cat "$WORK/kanalctl.log"; fail "kanalctl check on the store"; }
ok "kanald (as kanal) served /healthz and the feed (token from api-tokens) on the shipped" \
   "example, wrote /var/lib/kanal, kanalctl check passes"

# ---- purge: config goes, store stays (unless asked) ----
step "dpkg --purge"
in_root dpkg --purge kanal-plugin-dev libkanal-dev kanal > "$WORK/purge.log" 2>&1 \
    || { cat "$WORK/purge.log"; fail "dpkg --purge"; }
[ ! -e "$ROOT/etc/kanal" ] || fail "/etc/kanal is left after purge: $(ls -A "$ROOT/etc/kanal")"
[ -f "$ROOT/var/lib/kanal/data.mdb" ] || fail "purge removed the store"
[ "$(owner /var/lib/kanal)" = "kanal:kanal 750" ] || fail "/var/lib/kanal after purge is $(owner /var/lib/kanal)"
in_root getent passwd kanal >/dev/null || fail "purge removed the kanal user (it owns the kept store)"
grep -q "the store /var/lib/kanal is kept" "$WORK/purge.log" || fail "purge did not say the store is kept"
for f in /usr/sbin/kanald /usr/bin/kanalctl /usr/lib/kanal /lib/systemd/system/kanald.service \
         /usr/include/kanal /usr/lib/$MA/libkanal-plugin-kit.a /usr/share/doc/kanal; do
    [ ! -e "$ROOT$f" ] || fail "$f is left after purge"
done
ok "dpkg --purge: /etc/kanal and the files gone; /var/lib/kanal (the store) and the kanal user kept"

in_root sh -c 'dpkg -i /tmp/debs/kanal_*.deb' > "$WORK/dpkg-i2.log" 2>&1 \
    || { cat "$WORK/dpkg-i2.log"; fail "reinstall"; }
[ -f "$ROOT/var/lib/kanal/data.mdb" ] && [ "$(owner /var/lib/kanal)" = "kanal:kanal 750" ] \
    || fail "reinstall over a kept store: $(owner /var/lib/kanal)"
in_root env KANAL_PURGE_STORE=yes dpkg --purge kanal > "$WORK/purge2.log" 2>&1 \
    || { cat "$WORK/purge2.log"; fail "KANAL_PURGE_STORE=yes dpkg --purge"; }
[ ! -e "$ROOT/var/lib/kanal" ] || fail "KANAL_PURGE_STORE=yes: the store is left"
[ ! -e "$ROOT/etc/kanal" ] || fail "KANAL_PURGE_STORE=yes: /etc/kanal is left"
in_root dpkg --purge libkanal1 > /dev/null 2>&1 || fail "dpkg --purge libkanal1"
[ ! -e "$ROOT/usr/lib/$MA/libkanal.so.1" ] || fail "libkanal.so.1 is left after purge"
ok "reinstall keeps the store; KANAL_PURGE_STORE=yes dpkg --purge removes it"

cleanup
trap - EXIT
rm -rf "$ROOT"
step "all checks passed"
