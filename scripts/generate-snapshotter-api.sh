#!/bin/sh
# Regenerates Sources/SnapshotterAPI from containerd 1.6's snapshot service
# definition. The build never runs protoc: the generated Swift is committed,
# and this script is how it was made (run it from the repository's root).
#
# Tools, all outside the repository:
#   apt-get install -y protobuf-compiler golang-github-containerd-containerd-dev
#   (protoc 3.21.12; containerd's .proto files under /usr/share/gocode)
#   The two plugins, built from a throwaway package in /tmp/protoc-plugins that
#   depends on swift-protobuf 1.39.0 and grpc-swift-protobuf 2.4.1:
#     swift build -c release --product protoc-gen-swift
#     swift build -c release --product protoc-gen-grpc-swift-2
#   PLUGINS names the directory holding them (default below).
set -eu

PLUGINS=${PLUGINS:-/tmp/protoc-plugins/.build/release}
API=${API:-/usr/share/gocode/src/github.com/containerd/containerd/api}
out=Sources/SnapshotterAPI
proto=$out/proto

# containerd imports gogoproto for Go-only options: protoc needs none of
# them. Drop the import, the `option (gogoproto...)` lines and the
# `[(gogoproto...)]` field annotations; keep the package names, which the
# gRPC method paths (/containerd.services.snapshots.v1.Snapshots/Prepare)
# are made of. mount.proto is imported by its bare name.
strip() {
  sed -e '/import weak "gogoproto\/gogo.proto";/d' \
      -e '/option (gogoproto\./d' \
      -e 's/ *\[(gogoproto[^]]*\]//' \
      -e 's|import "github.com/containerd/containerd/api/types/mount.proto";|import "mount.proto";|' \
      "$1"
}
mkdir -p "$proto"
strip "$API/types/mount.proto" > "$proto/mount.proto"
strip "$API/services/snapshots/v1/snapshots.proto" > "$proto/snapshots.proto"
if grep -n gogoproto "$proto"/*.proto; then echo "gogoproto left in the .proto files" >&2; exit 1; fi

protoc --proto_path="$proto" \
  --plugin=protoc-gen-swift="$PLUGINS/protoc-gen-swift" \
  --swift_out="$out" --swift_opt=Visibility=Public \
  --plugin=protoc-gen-grpc-swift-2="$PLUGINS/protoc-gen-grpc-swift-2" \
  --grpc-swift-2_out="$out" --grpc-swift-2_opt=Visibility=Public,Server=true,Client=true \
  mount.proto snapshots.proto
# mount.proto defines no service: its gRPC file would be a header only.
rm -f "$out/mount.grpc.swift"
