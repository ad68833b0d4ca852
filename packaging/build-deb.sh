#!/usr/bin/env bash
# Builds the Debian package target/debian/atoll_VERSION_ARCH.deb: /usr/bin/atoll, a commented
# /etc/atoll/atoll.toml (a conffile), the systemd unit, the man page, the Prometheus alert
# rules and Grafana dashboard under /usr/share/atoll/, and maintainer scripts that create the
# atoll user and keep /var/lib/atoll until purge (packaging/debian/).
#
#   packaging/build-deb.sh                 cargo build --release, then package
#   ATOLL_BIN=target/debug/atoll packaging/build-deb.sh
#                                          package an already built binary (stripped here)
#   ATOLL_DEB_DIR=/tmp/x packaging/build-deb.sh
#                                          write the .deb there instead of target/debian
#
# Needs dpkg-deb, dpkg-shlibdeps (dpkg-dev), strip (binutils) and gzip; installs what is missing
# with apt-get when run as root. Prints the path of the .deb on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

need=()
command -v dpkg-deb >/dev/null || need+=(dpkg)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v strip >/dev/null || need+=(binutils)
command -v gzip >/dev/null || need+=(gzip)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "build-deb.sh: install ${need[*]} first (apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
out_dir=${ATOLL_DEB_DIR:-$root/target/debian}
bin=${ATOLL_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --locked -p atoll >&2
  bin=$root/target/release/atoll
fi
[ -x "$bin" ] || { echo "build-deb.sh: no binary at $bin" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/atoll
install -d "$pkg/DEBIAN"
install -D -m 0755 "$bin" "$pkg/usr/bin/atoll"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$pkg/usr/bin/atoll"
install -D -m 0644 packaging/atoll.toml "$pkg/etc/atoll/atoll.toml"
install -D -m 0644 packaging/atoll.service "$pkg/lib/systemd/system/atoll.service"
install -d "$pkg/usr/share/man/man1" "$pkg/usr/share/doc/atoll"
gzip -9n <packaging/atoll.1 >"$pkg/usr/share/man/man1/atoll.1.gz"
install -m 0644 packaging/debian/copyright "$pkg/usr/share/doc/atoll/copyright"
gzip -9n <README.md >"$pkg/usr/share/doc/atoll/README.md.gz"
for f in packaging/prometheus/atoll-alerts.yml packaging/grafana/atoll-dashboard.json; do
  if [ -f "$f" ]; then
    install -D -m 0644 "$f" "$pkg/usr/share/atoll/${f#packaging/}"
  fi
done
# a native package's changelog: the version and the commit it was built from
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
date_r=$(date -R -u -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")
maintainer="Atoll maintainers <atoll-maintainers@lists.atoll.invalid>"
{
  echo "atoll ($version) unstable; urgency=medium"
  echo
  echo "  * Built from commit $commit."
  echo
  echo " -- $maintainer  $date_r"
} | gzip -9n >"$pkg/usr/share/doc/atoll/changelog.gz"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$pkg/DEBIAN/"
echo /etc/atoll/atoll.toml >"$pkg/DEBIAN/conffiles"

# the shared libraries the binary links against (libc6, libgcc-s1, …)
mkdir -p "$stage/debian"
printf 'Source: atoll\n\nPackage: atoll\nArchitecture: any\n' >"$stage/debian/control"
shlibs=$(cd "$stage" && dpkg-shlibdeps -O -eatoll/usr/bin/atoll 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
size_kib=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: atoll
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size_kib
Depends: ${shlibs:+$shlibs, }adduser
Recommends: libde265-0
Section: video
Priority: optional
Description: IPTV server for closed networks
 Atoll takes live channels in (RTMP push, UDP multicast, HLS, HTTP MPEG-TS)
 and serves them as HLS and MPEG-TS, records them for catch-up TV, imports
 XMLTV programme guides, serves films and series, and speaks the Xtream Codes
 API that IPTV apps use. One binary with its web console and player built in;
 runs without internet. The service starts with a demo channel.
CONTROL
(cd "$pkg" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"

mkdir -p "$out_dir"
deb=$out_dir/atoll_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$deb" >&2
echo "$deb"
