#!/usr/bin/env bash
# Builds the Debian package of shaobing from an already built binary (no cargo here):
#
#   scripts/package-deb.sh [BINARY]        # default: target/release/shaobing
#
# Output: target/debian/shaobing_<version>_<arch>.deb (the path is printed on the last line).
#
# What goes where (FHS):
#   /usr/bin/shaobing                                 the binary
#   /usr/lib/shaobing/libonnxruntime.so.<ver> (+ .so) ONNX Runtime, from .local/onnxruntime (scripts/setup.sh)
#   /usr/share/shaobing/models/                       manifest.toml, the ONNX files it lists, licences, README
#   /etc/shaobing/shaobing.toml                       conffile, generated from deploy/shaobing.example.toml
#   /lib/systemd/system/shaobing.service              deploy/systemd/shaobing.service
#   /usr/share/shaobing/{grafana,prometheus,mosquitto}/  deploy/ files for the monitoring stack
#   /usr/share/doc/shaobing/                          README.md, copyright, examples/ (unit drop-ins)
#   /var/lib/shaobing                                 created by postinst (0750 shaobing), kept on purge
#
# Environment:
#   SHAOBING_DEB_VERSION         package version (default: [workspace.package] version of Cargo.toml)
#   SHAOBING_DEB_OUTDIR          output directory (default: target/debian)
#   SHAOBING_DEB_OPTIONAL_MODELS 1: also ship the manifest's optional models (the AGPL-3.0 fire
#                                model, with its converter as the source the AGPL asks for);
#                                default 0: only the models the manifest requires
#   SHAOBING_DEB_COMPRESSION     dpkg-deb -Z value: xz (default), zstd, gzip, none
#   SHAOBING_DEB_MAINTAINER      Maintainer field
set -euo pipefail
umask 022

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf 'package-deb: %s\n' "$*" >&2; }
die() { printf 'package-deb: error: %s\n' "$*" >&2; exit 1; }

binary="${1:-${SHAOBING_BINARY:-target/release/shaobing}}"
[ -f "$binary" ] || die "no binary at $binary: build it first (cargo build --release -p shaobing) or pass its path: $0 path/to/shaobing"
[ -x "$binary" ] || die "$binary is not executable"

for tool in dpkg-deb dpkg dpkg-query ldd objdump python3 sha256sum md5sum; do
    command -v "$tool" >/dev/null || die "$tool is needed (Debian: dpkg, binutils, python3, coreutils)"
done
python3 -c 'import tomllib' 2>/dev/null || die "python3 >= 3.11 (tomllib) is needed to read Cargo.toml and models/manifest.toml"

# --- Version, architecture -----------------------------------------------------------------
version="${SHAOBING_DEB_VERSION:-$(python3 -c '
import tomllib, sys
print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"])')}"
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || die "not a Debian version: $version"
arch="$(dpkg --print-architecture)"
homepage="$(python3 -c '
import tomllib
print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"].get("repository", ""))')"
maintainer="${SHAOBING_DEB_MAINTAINER:-The shaobing developers <shaobing@example.invalid>}"
outdir="${SHAOBING_DEB_OUTDIR:-target/debian}"
compression="${SHAOBING_DEB_COMPRESSION:-xz}"
optional_models="${SHAOBING_DEB_OPTIONAL_MODELS:-0}"

# --- Inputs that must exist ----------------------------------------------------------------
ort_version="$(sed -n 's/^ort_version="\(.*\)"$/\1/p' scripts/setup.sh)"
[ -n "$ort_version" ] || die "cannot read ort_version from scripts/setup.sh"
ort_dir=".local/onnxruntime"
ort_lib="$ort_dir/libonnxruntime.so.$ort_version"
[ -f "$ort_lib" ] || die "ONNX Runtime $ort_version is missing ($ort_lib): run scripts/setup.sh"
example="deploy/shaobing.example.toml"
unit="deploy/systemd/shaobing.service"
for f in "$example" "$unit" models/manifest.toml LICENSE README.md \
    deploy/systemd/shaobing.service.d/gpu.conf.example \
    deploy/systemd/shaobing.service.d/allow-addresses.conf.example \
    deploy/mosquitto/mosquitto.conf; do
    [ -f "$f" ] || die "missing $f"
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pkg="$work/shaobing"
mkdir -p "$pkg/DEBIAN"

# --- Binary and ONNX Runtime ---------------------------------------------------------------
# The binary is shipped as built: the release profile keeps line tables for backtraces.
install -D -m 0755 "$binary" "$pkg/usr/bin/shaobing"
install -D -m 0644 "$ort_lib" "$pkg/usr/lib/shaobing/libonnxruntime.so.$ort_version"
ln -s "libonnxruntime.so.$ort_version" "$pkg/usr/lib/shaobing/libonnxruntime.so"

# --- Models: what the manifest lists, checked against its checksums ------------------------
models_dst="$pkg/usr/share/shaobing/models"
install -D -m 0644 models/manifest.toml "$models_dst/manifest.toml"
install -m 0644 models/README.md models/LICENSE.* "$models_dst/"
# name<TAB>file<TAB>sha256<TAB>optional, one line per [[model]]
model_list="$(python3 -c '
import tomllib
for m in tomllib.load(open("models/manifest.toml", "rb"))["model"]:
    print("\t".join([m["name"], m["file"], m["sha256"], "1" if m.get("optional") else "0"]))')"
shipped_optional=0
while IFS=$'\t' read -r name file sha optional; do
    [[ "$file" != */* ]] || die "manifest model $name: file $file is not beside the manifest"
    if [ "$optional" = 1 ] && [ "$optional_models" != 1 ]; then
        log "leaving out optional model $name ($file); SHAOBING_DEB_OPTIONAL_MODELS=1 ships it"
        continue
    fi
    [ -f "models/$file" ] || die "manifest model $name: models/$file is missing"
    actual="$(sha256sum "models/$file" | cut -d' ' -f1)"
    [ "$actual" = "$sha" ] || die "manifest model $name: models/$file has sha256 $actual, the manifest says $sha"
    install -m 0644 "models/$file" "$models_dst/$file"
    if [ "$optional" = 1 ]; then shipped_optional=1; fi
done <<<"$model_list"
if [ "$shipped_optional" = 1 ]; then
    # The AGPL-3.0 fire model's corresponding source (see models/LICENSE.fire-detector).
    install -m 0644 models/convert_fire_yolov8.sh models/convert_fire_yolov8.py "$models_dst/"
fi

# --- Configuration: the example with the package's paths -----------------------------------
# Generated from the example so it follows the example's keys. [central] is commented out: the
# example points it at a database on 127.0.0.1 that a fresh box does not have (the daemon would
# queue every issue for it and warn every few seconds); issues stay on the box until the
# operator adds the district's database.
conf="$pkg/etc/shaobing/shaobing.toml"
mkdir -p "$pkg/etc/shaobing"
{
    echo "# /etc/shaobing/shaobing.toml: configuration of the shaobing daemon (Debian package)."
    echo "# Generated from deploy/shaobing.example.toml with the package's paths; [central] is"
    echo "# commented out until the district's database is known. Check a change with:"
    echo "#   runuser -u shaobing -- shaobing check-config /etc/shaobing/shaobing.toml"
    echo "# Secrets: see /lib/systemd/system/shaobing.service (systemd credentials)."
    echo
    sed -e 's|^#\{0,1\} *data_dir *=.*|data_dir = "/var/lib/shaobing"|' \
        -e "s|^#\{0,1\} *onnxruntime_path *=.*|onnxruntime_path = \"/usr/lib/shaobing/libonnxruntime.so.$ort_version\"|" \
        -e 's|^#\{0,1\} *manifest *=.*|manifest = "/usr/share/shaobing/models/manifest.toml"|' \
        "$example" |
        awk '
            /^\[central\][ \t]*(#.*)?$/ { central = 1 }
            central && /^\[/ && !/^\[central[].]/ { central = 0 }
            central && /^[ \t]*$/ { central = 0 }
            central && !/^#/ { print "# " $0; next }
            { print }'
} >"$conf"
chmod 0640 "$conf"
python3 - "$conf" "$ort_version" <<'EOF' || die "the generated configuration is not what the package needs (did deploy/shaobing.example.toml change?)"
import sys, tomllib
conf = tomllib.load(open(sys.argv[1], "rb"))
want = {
    ("daemon", "data_dir"): "/var/lib/shaobing",
    ("runtime", "onnxruntime_path"): f"/usr/lib/shaobing/libonnxruntime.so.{sys.argv[2]}",
    ("models", "manifest"): "/usr/share/shaobing/models/manifest.toml",
}
ok = True
for (section, key), value in want.items():
    got = conf.get(section, {}).get(key)
    if got != value:
        print(f"package-deb: {section}.{key} = {got!r}, want {value!r}", file=sys.stderr)
        ok = False
if "central" in conf:
    print("package-deb: [central] is still set", file=sys.stderr)
    ok = False
sys.exit(0 if ok else 1)
EOF

# --- systemd unit, monitoring files, docs --------------------------------------------------
install -D -m 0644 "$unit" "$pkg/lib/systemd/system/shaobing.service"
for f in deploy/grafana/*.json; do install -D -m 0644 "$f" "$pkg/usr/share/shaobing/grafana/$(basename "$f")"; done
for f in deploy/prometheus/*.yml; do install -D -m 0644 "$f" "$pkg/usr/share/shaobing/prometheus/$(basename "$f")"; done
install -D -m 0644 deploy/mosquitto/mosquitto.conf "$pkg/usr/share/shaobing/mosquitto/mosquitto.conf"
doc="$pkg/usr/share/doc/shaobing"
install -D -m 0644 README.md "$doc/README.md"
install -D -m 0644 "$example" "$doc/examples/shaobing.example.toml"
for f in deploy/systemd/shaobing.service.d/*.conf.example; do
    install -m 0644 "$f" "$doc/examples/$(basename "$f")"
done
for f in "$ort_dir"/LICENSE* "$ort_dir"/ThirdPartyNotices*; do
    if [ -f "$f" ]; then install -D -m 0644 "$f" "$doc/onnxruntime/$(basename "$f")"; fi
done

# copyright (machine-readable format); paths are the installed ones.
mit_text="$(sed -n '/^Permission is hereby granted/,$p' LICENSE | sed -e 's/^$/./' -e 's/^/ /')"
{
    cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: shaobing
Source: $homepage
Comment: A binary package built by scripts/package-deb.sh; Files: are installed paths.
 The models' provenance and conversion: /usr/share/shaobing/models/README.md and
 manifest.toml.

Files: *
Copyright: $(sed -n 's/^Copyright (c) //p' LICENSE | head -n 1)
License: MIT

Files: usr/lib/shaobing/libonnxruntime.so*
Copyright: Microsoft Corporation
License: MIT
Comment: ONNX Runtime $ort_version, the shared library of the PyPI wheel onnxruntime==$ort_version
 (https://github.com/microsoft/onnxruntime), unmodified. Third-party notices:
 https://github.com/microsoft/onnxruntime/blob/v$ort_version/ThirdPartyNotices.txt
EOF
    python3 - "$models_dst" <<'EOF'
import os, re, sys, tomllib
dst = sys.argv[1]
for m in tomllib.load(open(os.path.join(dst, "manifest.toml"), "rb"))["model"]:
    if not os.path.exists(os.path.join(dst, m["file"])):
        continue
    note = m.get("licence_note", "")
    found = re.search(r"Copyright \(c\) ([^(]+?)(?: \(|$)", note)
    holder = found.group(1).strip() if found else "the model's authors (see Comment)"
    print()
    print(f"Files: usr/share/shaobing/models/{m['file']}")
    print(f"Copyright: {holder}")
    print(f"License: {m['licence']}")
    print(f"Comment: model {m['name']}. {note}")
EOF
    echo
    echo "License: MIT"
    echo "$mit_text"
} >"$doc/copyright"
if grep -q '^License: AGPL-3.0$' "$doc/copyright"; then
    cat >>"$doc/copyright" <<'EOF'

License: AGPL-3.0
 GNU Affero General Public License, version 3. Debian's /usr/share/common-licenses/
 does not carry it; the full text is at https://www.gnu.org/licenses/agpl-3.0.txt.
 Why this model is treated as AGPL-3.0, and its source (the checkpoint's origin and
 convert_fire_yolov8.sh, shipped beside it): /usr/share/shaobing/models/LICENSE.fire-detector.
EOF
fi
# Every licence a Files: paragraph names needs its stand-alone License: paragraph.
for licence in $(awk '/^Files:/ { f = 1 } /^$/ { f = 0 } f && /^License:/ { print $2 }' "$doc/copyright" | sort -u); do
    grep -qx "License: $licence" <(awk '/^$/ { p = 1; next } p && /^License:/ { print } { p = 0 }' "$doc/copyright") ||
        die "copyright: no licence text paragraph for $licence (a new model licence? add it to package-deb.sh)"
done

# --- Depends: the packages of the libraries the binary links (what ldd resolves) ------------
# Only direct DT_NEEDED entries: their packages bring their own dependencies.
needed_pkgs=()
ldd_out="$(ldd "$binary")"
while read -r soname; do
    path="$(awk -v s="$soname" '$1 == s && $2 == "=>" { print $3 }' <<<"$ldd_out")"
    case "$soname" in ld-linux*) path="$(awk '/ld-linux/ && $1 ~ /^\// { print $1 }' <<<"$ldd_out")" ;; esac
    [ -n "$path" ] && [ -e "$path" ] || die "ldd cannot resolve $soname for $binary: install its runtime package"
    owner=""
    for candidate in "$path" "/usr$path" "${path#/usr}" "$(readlink -f "$path")" "/usr$(readlink -f "$path")" "$(readlink -f "$path" | sed 's|^/usr||')"; do
        owner="$(dpkg-query -S "$candidate" 2>/dev/null | head -n 1 | cut -d: -f1)" && [ -n "$owner" ] && break
    done
    [ -n "$owner" ] || die "no Debian package owns $path ($soname): it would be missing on the target"
    needed_pkgs+=("$owner")
done < <(objdump -p "$binary" | awk '$1 == "NEEDED" { print $2 }')
# Loaded at run time, not linked: GStreamer elements (rtspsrc, h264parse/h265parse,
# avdec_h264/avdec_h265, decodebin, videoconvertscale, jpegenc) and what ONNX Runtime links.
runtime_pkgs=(gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav
    libstdc++6 libgcc-s1 libc6 adduser)
depends="$(printf '%s\n' "${needed_pkgs[@]}" "${runtime_pkgs[@]}" | sort -u | paste -sd, | sed 's/,/, /g')"

installed_size="$(du -sk --apparent-size "$pkg" | cut -f1)"
description="$(python3 -c '
import tomllib
print(tomllib.load(open("crates/shaobing/Cargo.toml", "rb"))["package"]["description"])')"
cat >"$pkg/DEBIAN/control" <<EOF
Package: shaobing
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $depends
Recommends: gstreamer1.0-plugins-ugly
Suggests: opencv-doc, mosquitto, prometheus
Section: video
Priority: optional
Homepage: $homepage
Description: street sentinel: finds a street's problems on camera and files them
 $description
 .
 The daemon (a systemd service, installed disabled), ONNX Runtime $ort_version, the
 object detection models with their manifest, an example configuration in
 /etc/shaobing, and Prometheus, Grafana and Mosquitto configuration in
 /usr/share/shaobing. Data lives in /var/lib/shaobing and is kept on purge.
 .
 gstreamer1.0-plugins-ugly (x264enc) is used only by \`shaobing demo\`, with the
 clip from opencv-doc.
EOF
echo /etc/shaobing/shaobing.toml >"$pkg/DEBIAN/conffiles"

# --- Maintainer scripts ----------------------------------------------------------------------
cat >"$pkg/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# shaobing postinst: system user, data directory, systemd (installed disabled, never started
# on a fresh install: the configuration needs a review first; an upgrade restarts it when
# it is enabled or running).
set -e

if [ "$1" = configure ]; then
    if ! getent group shaobing >/dev/null; then
        addgroup --system --quiet shaobing
    fi
    if ! getent passwd shaobing >/dev/null; then
        adduser --system --quiet --ingroup shaobing --home /var/lib/shaobing --no-create-home \
            --gecos "shaobing street sentinel" shaobing
    fi

    # Data: kept across upgrade and purge. After a purge and a new install the user may have a
    # new uid; give the kept data to it.
    if [ ! -d /var/lib/shaobing ]; then
        install -d -m 0750 -o shaobing -g shaobing /var/lib/shaobing
    elif [ "$(stat -c %U:%G /var/lib/shaobing)" != shaobing:shaobing ]; then
        chown -R shaobing:shaobing /var/lib/shaobing
        chmod 0750 /var/lib/shaobing
    fi

    # The configuration may hold camera passwords: readable by the daemon's group only.
    if [ -f /etc/shaobing/shaobing.toml ] &&
        ! dpkg-statoverride --list /etc/shaobing/shaobing.toml >/dev/null 2>&1; then
        chown root:shaobing /etc/shaobing/shaobing.toml
        chmod 0640 /etc/shaobing/shaobing.toml
    fi
fi

if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
    if command -v deb-systemd-helper >/dev/null; then
        if deb-systemd-helper debian-installed shaobing.service; then
            # Removes only the mask deb-systemd-helper set when the package was removed.
            deb-systemd-helper unmask shaobing.service >/dev/null || true
            if deb-systemd-helper --quiet was-enabled shaobing.service; then
                deb-systemd-helper enable shaobing.service >/dev/null || true
            fi
        fi
        deb-systemd-helper update-state shaobing.service >/dev/null || true
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
        if [ -n "$2" ]; then
            # Upgrade: restarts it only if it is enabled or running.
            if command -v deb-systemd-invoke >/dev/null; then
                deb-systemd-invoke restart shaobing.service >/dev/null || true
            fi
        fi
    fi
    if [ "$1" = configure ] && [ -z "$2" ]; then
        echo "shaobing: installed, not enabled. Review /etc/shaobing/shaobing.toml (cameras, zones), check it with"
        echo "  runuser -u shaobing -- shaobing check-config /etc/shaobing/shaobing.toml"
        echo "then: systemctl enable --now shaobing.service"
    fi
fi
exit 0
EOF

cat >"$pkg/DEBIAN/prerm" <<'EOF'
#!/bin/sh
# shaobing prerm: stop the service on removal (an upgrade restarts it from postinst instead).
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
    if command -v deb-systemd-invoke >/dev/null; then
        deb-systemd-invoke stop shaobing.service >/dev/null || true
    else
        systemctl stop shaobing.service >/dev/null || true
    fi
fi
exit 0
EOF

cat >"$pkg/DEBIAN/postrm" <<'EOF'
#!/bin/sh
# shaobing postrm: on purge remove the configuration and the user, but KEEP /var/lib/shaobing
# (the problem database and the evidence snapshots are records, not package state).
set -e

if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi

if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper mask shaobing.service >/dev/null || true
fi

if [ "$1" = purge ]; then
    if command -v deb-systemd-helper >/dev/null; then
        deb-systemd-helper purge shaobing.service >/dev/null || true
        deb-systemd-helper unmask shaobing.service >/dev/null || true
    fi
    rm -rf /etc/shaobing
    if getent passwd shaobing >/dev/null && command -v deluser >/dev/null; then
        deluser --system --quiet shaobing || true
    fi
    if getent group shaobing >/dev/null && command -v delgroup >/dev/null; then
        delgroup --system --quiet --only-if-empty shaobing || true
    fi
    if [ -d /var/lib/shaobing ]; then
        echo "shaobing: purged; the data is kept in /var/lib/shaobing (problem database, evidence)."
        echo "shaobing: delete it by hand when it is no longer needed: rm -rf /var/lib/shaobing"
    fi
fi
exit 0
EOF
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"

(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"

# --- Build -----------------------------------------------------------------------------------
mkdir -p "$outdir"
deb="$outdir/shaobing_${version}_${arch}.deb"
log "building $deb (Depends: $depends)"
dpkg-deb --build --root-owner-group -Z"$compression" "$pkg" "$deb" >/dev/null
log "built $(du -h "$deb" | cut -f1) from $binary"
echo "$deb"
