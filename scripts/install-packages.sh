#!/bin/sh
# Installs the Debian packages a buse target needs, only those missing.
#   scripts/install-packages.sh run    what `make run` needs (build, and nbdinfo for the hint it prints)
#   scripts/install-packages.sh test   what `make test` needs (clients, tools)
#   scripts/install-packages.sh bench  what `make bench` needs (peers, fio, cc for the C floors)
#   scripts/install-packages.sh kernel what nbd/vm.sh needs (qemu, guest tools)
#   scripts/install-packages.sh ceph   what scripts/ceph-cluster.sh needs (mon, osd, rados/rbd CLIs)
set -eu

build="pkg-config liblmdb-dev libnbd-dev librados-dev libgnutls28-dev"
run="$build libnbd-bin"
test="$build libnbd-bin python3-libnbd nbdkit nbdfuse fuse3 qemu-utils fio nbd-client e2fsprogs util-linux curl skopeo umoci golang-go golang-github-containerd-containerd-dev containerd runc busybox-static docker-registry podman erofs-utils gnutls-bin libgnutls28-dev prometheus apache2-utils stress-ng strace binutils systemd"
bench="$test nbdkit qemu-utils qemu-block-extra fio gcc"
kernel="qemu-system-x86 cpio gzip kmod iproute2 procps nbd-client e2fsprogs util-linux"
ceph="ceph-mon ceph-osd ceph-common librados-dev"

case "${1:-}" in
  run) wanted=$run ;;
  test) wanted=$test ;;
  bench) wanted=$bench ;;
  kernel) wanted=$kernel ;;
  ceph) wanted=$ceph ;;
  *) echo "usage: $0 run|test|bench|kernel|ceph" >&2; exit 2 ;;
esac

# Python packages from PyPI that some tests drive (oras: an OCI artifact client).
if [ "$1" = test ] && ! python3 -c 'import oras' 2>/dev/null; then
  echo "installing: oras (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check 'oras==0.2.43'
fi

missing=""
for package in $wanted; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
[ -z "$missing" ] && exit 0

echo "installing:$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
