# connscope — build, test and set-up targets.
# `make test` and `make example` install what a fresh Debian/Ubuntu machine
# lacks (libpcap-dev to build, tcpdump for the golden tests) before they run.

CARGO ?= cargo
BIN := target/release/connscope
EXAMPLE ?= fixtures/http-keepalive-8080.pcap

.PHONY: all deps build example test lint clean

all: build

# Idempotent: installs only what is missing; apt-get update first, as root or via sudo.
deps:
	@missing=""; \
	[ -f /usr/include/pcap.h ] || [ -f /usr/include/pcap/pcap.h ] || missing="$$missing libpcap-dev"; \
	command -v tcpdump >/dev/null 2>&1 || [ -x /usr/bin/tcpdump ] || [ -x /usr/sbin/tcpdump ] || missing="$$missing tcpdump"; \
	command -v ss >/dev/null 2>&1 || missing="$$missing iproute2"; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    echo "installing:$$missing"; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "connscope needs:$$missing — install them with your package manager (Fedora: dnf install libpcap-devel tcpdump; macOS ships libpcap and tcpdump)" >&2; exit 1; \
	  fi; \
	fi

build: deps
	$(CARGO) build --release

# README's first Quick start command: analyse a bundled capture.
example: build
	TZ=UTC ./$(BIN) read $(EXAMPLE)

test: deps
	$(CARGO) test --release

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

clean:
	$(CARGO) clean

# Fuzz every target for FUZZ_SECONDS each (libFuzzer via cargo-fuzz on nightly;
# the stable replayer otherwise) and print the executions reached.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

# Each fuzz target over its regressions and 20,000 seeded random inputs, on stable (seconds once built).
.PHONY: fuzz-smoke
fuzz-smoke: deps
	cd fuzz && $(CARGO) test --release
