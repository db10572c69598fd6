# Keyfarm: build, test and demo on a Debian 12 machine.
#
#   make demo    render the example shot list on this machine (no provider keys needed)
#   make test    run every test against a throwaway PostgreSQL server
#   make fuzz    the protocol decoder and shot list fuzz tests at FUZZ_CASES cases each
#   make chaos   a long chaos run: kill workers, the coordinator and PostgreSQL while lists render
#
# Both first run `deps`, which installs the Debian packages Keyfarm needs when run as root,
# and only says what is missing otherwise. Once everything is present it does nothing.

SWIFT ?= swift
SWIFT_BUILD_FLAGS ?=
DEMO ?= examples/demo.yaml

# Debian packages: C libraries the Swift package links (through pkg-config; libpng and the
# OpenEXR core library for keyframe images), the PostgreSQL
# server the demo and tests run, ffmpeg and the OpenEXR tools for the media pipeline,
# protoc for the wire protocol definitions, python3 with venv (the tests run the providers' official
# Python SDKs against the fake provider), and systemd (for systemd-analyze, which checks
# the units in deploy/; the machine need not boot with systemd).
APT_PACKAGES := pkg-config libzmq3-dev libpq-dev libcurl4-openssl-dev libpng-dev postgresql ffmpeg \
                openexr libopenexr-dev protobuf-compiler systemd python3 python3-venv

.PHONY: all deps build test fuzz demo bench chaos clean

all: build

deps:
	@missing=""; \
	for pkg in $(APT_PACKAGES); do \
	    status=$$(dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null || true); \
	    case "$$status" in *" installed") ;; *) missing="$$missing $$pkg" ;; esac; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" -eq 0 ]; then \
	    echo "deps: installing$$missing"; \
	    apt-get update && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(APT_PACKAGES); \
	else \
	    echo "deps: missing Debian packages:$$missing" >&2; \
	    echo "deps: install them as root with:" >&2; \
	    echo "  apt-get update && apt-get install -y --no-install-recommends $(APT_PACKAGES)" >&2; \
	    echo "deps: (or run 'sudo make deps')" >&2; \
	    exit 1; \
	fi

build: deps
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)

# Swift Testing already runs tests in parallel inside one process, so no --parallel.
# ops/scripts/swift-test ends a failing run's output with a digest of what failed.
# The short chaos run (ChaosTests) runs on its own after the rest: it loads both cores with
# its own farm, and other tests' bounded waits should not share the machine with it.
test: deps
	SWIFT=$(SWIFT) ops/scripts/with-test-postgres sh -c 'ops/scripts/swift-test $(SWIFT_BUILD_FLAGS) --skip ChaosTests && \
	    ops/scripts/swift-test $(SWIFT_BUILD_FLAGS) --skip-build --filter ChaosTests'

# `make test` runs the fuzz tests at 100,000 cases each; this runs many more (about 4 minutes
# per million shot lists on two cores, in a debug build). FUZZ_SEED picks other cases.
FUZZ_CASES ?= 1000000
FUZZ_SEED ?=
fuzz: deps
	KEYFARM_FUZZ_CASES=$(FUZZ_CASES) $(if $(FUZZ_SEED),KEYFARM_FUZZ_SEED=$(FUZZ_SEED)) \
	    $(SWIFT) test $(SWIFT_BUILD_FLAGS) --filter 'WireFuzzTests|ShotListFuzzTests'

# The whole farm on this machine: a release build (local interpolation is several times
# faster than in a debug build), then `keyfarm demo`: the fake provider, a coordinator and two
# workers on loopback, the example shot list rendered and stitched, outputs and credits printed.
demo: deps
	$(SWIFT) build -c release --product keyfarm --scratch-path .build-release
	.build-release/release/keyfarm plan $(DEMO)
	.build-release/release/keyfarm demo $(DEMO)

# Benchmarks print figures; they never run as timed tests. A release build, its own scratch
# folder, and a fresh durable PostgreSQL cluster (see ops/scripts/bench).
bench: deps
	$(SWIFT) build -c release --product keyfarm --scratch-path .build-release
	ops/scripts/bench .build-release/release/keyfarm

# The long chaos run (`make test` runs a 30 s one): CHAOS_SECONDS of faults on a release
# build, then its checks and one JSON line of figures (see README "Chaos"). Exit 0 only when
# nothing was lost, nothing completed twice, billing matches the ledger and every clip has
# its planned frames.
CHAOS_SECONDS ?= 600
CHAOS_LISTS ?= 12
CHAOS_SEED ?=
# A leader and a standby: the leader is SIGKILLed twice and the standby takes over.
CHAOS_COORDINATORS ?= 2
chaos: deps
	$(SWIFT) build -c release --product keyfarm --scratch-path .build-release
	.build-release/release/keyfarm chaos --duration $(CHAOS_SECONDS) --lists $(CHAOS_LISTS) --coordinators $(CHAOS_COORDINATORS) \
	    $(if $(CHAOS_SEED),--seed $(CHAOS_SEED)) --directory .keyfarm-chaos

clean:
	$(SWIFT) package clean
	rm -rf .keyfarm-test
