# The interface for people and CI. Each target is a command or two.
SWIFT ?= swift
DATA ?= $(CURDIR)/data
LISTEN ?= 127.0.0.1:10809

.PHONY: run build check test bench bench-tls release clean format lint soak

## Build and serve the default export: a 1 GiB sparse file under ./data.
## Built without the registry and snapshotter (their HTTP, gRPC and TLS
## packages would double a first build); `make release` has everything.
run:
	@scripts/install-packages.sh run
	$(SWIFT) build -c release --product buse --disable-default-traits
	@mkdir -p $(DATA)
	exec $$($(SWIFT) build -c release --show-bin-path)/buse serve --listen $(LISTEN) \
		--export "default=file:$(DATA)/default.img?size=1G"

build:
	$(SWIFT) build

## The edit loop: build (warnings as errors), lint, every suite but interop.
check:
	scripts/check.sh

## Every test tier: unit, protocol, conformance (incl. RADOS on a one-node
## Ceph cluster), interop with real clients, kernel scenarios under qemu.
test:
	scripts/test.sh

## The replication simulation over 10,000 seeds (about an hour), and 1,000
## registry kill -9 runs (about half an hour).
soak:
	$(SWIFT) build --build-tests
	BUSE_SIMULATION_SEEDS=10000 $(SWIFT) test --skip-build --disable-xctest --filter ReplicationSimulationTests
	BUSE_REGISTRY_CRASH_RUNS=1000 BUSE_BINARY=$$($(SWIFT) build --show-bin-path)/buse \
		$(SWIFT) test --skip-build --disable-xctest --filter RegistryCrashTests

release:
	$(SWIFT) build -c release --product buse

## Side-by-side speed with nbdkit and qemu-nbd (fio, median of 3), ratios
## printed; then the registry against docker-registry 2.8 (skopeo, curl);
## then the snapshotter against containerd's overlayfs (root).
bench:
	@scripts/install-packages.sh bench
	$(SWIFT) build -c release --product buse
	python3 bench/run.py --buse $$($(SWIFT) build -c release --show-bin-path)/buse
	python3 bench/registry_bench.py --buse $$($(SWIFT) build -c release --show-bin-path)/buse
	python3 bench/snapshotter_bench.py --buse $$($(SWIFT) build -c release --show-bin-path)/buse

## NBD over TLS: buse against nbdkit with the same PSK file (libnbd load, not fio).
bench-tls:
	@scripts/install-packages.sh bench
	$(SWIFT) build -c release --product buse
	python3 bench/tls_bench.py --buse $$($(SWIFT) build -c release --show-bin-path)/buse

## Format the Swift sources with the checked-in .swift-format; lint only
## reports, strictly (CI fails on any finding).
format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift
	scripts/check-nonsending-boundary.py

clean:
	rm -rf .build data results
