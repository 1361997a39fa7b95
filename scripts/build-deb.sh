#!/bin/bash
# scripts/build-deb.sh - build the claudine .deb from debian/ (the one source of
# truth for packaging) with dpkg-buildpackage, check it with lintian, and leave
# it in build/. Prints the path of the .deb on stdout (everything else goes to
# stderr), so callers can do: deb=$(scripts/build-deb.sh)
#
# Needs: cargo (rustup), debhelper, dpkg-dev, lintian (scripts/setup-host.sh).
# Honours CARGO (cargo binary) and CARGO_TARGET_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$CLAUDINE_ROOT"

for tool in dpkg-buildpackage dh lintian; do
    command -v $tool >/dev/null || die "$tool not found: run scripts/setup-host.sh"
done
command -v "${CARGO:-cargo}" >/dev/null || die "cargo not found: run scripts/setup-host.sh"

out=$CLAUDINE_ROOT/build
mkdir -p "$out"
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
rm -f "$out"/claudine_*.deb "$out"/claudine-dbgsym_*.deb "$out"/claudine_*.buildinfo "$out"/claudine_*.changes

say "dpkg-buildpackage (claudine $version, $arch)"
# -b binary only, -us -uc unsigned, -d: the Rust toolchain is not a Debian package.
# Every output goes to build/ instead of the parent directory of the repository.
CLAUDINE_DEB_DESTDIR=$out dpkg-buildpackage -b -us -uc -d \
    --buildinfo-option="-u$out" --buildinfo-file="$out/claudine_${version}_${arch}.buildinfo" \
    --changes-option="-u$out" --changes-file="$out/claudine_${version}_${arch}.changes" \
    >&2
# Leave no staging trees in debian/ (the cargo target dir is kept as a cache).
debian/rules clean >/dev/null 2>&1 || true

deb=$out/claudine_${version}_${arch}.deb
[[ -f $deb ]] || die "dpkg-buildpackage did not produce $deb"

say "lintian $(basename "$deb")"
lintian --fail-on error "$deb" >&2 || die "lintian reported errors for $deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p' | grep -E '^ (Package|Version|Architecture|Depends|Installed-Size):' >&2
echo "$deb"
