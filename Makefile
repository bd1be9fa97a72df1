# connscope — build, test and set-up targets.
# `make test` and `make example` install what a fresh Debian/Ubuntu machine
# lacks (libpcap-dev to build, tcpdump for the golden tests, chromium for the
# HTML report test) before they run.

CARGO ?= cargo
BIN := $(or $(CARGO_TARGET_DIR),target)/release/connscope
# `make release`: the same program built with profile-guided optimisation
# (scripts/pgo-build.sh); `make install` and `make bench` use it.
RELEASE_BIN := $(or $(CARGO_TARGET_DIR),target)/pgo/release/connscope
EXAMPLE ?= fixtures/gen-no-drain.pcap
# `make install` / `make install-docs`: PREFIX=/usr/local by default; DESTDIR for packaging.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man

.PHONY: all deps build release example test lint docs install install-docs uninstall clean

all: build

# Idempotent: installs only what is missing; apt-get update first, as root or via sudo.
deps:
	@missing=""; \
	[ -f /usr/include/pcap.h ] || [ -f /usr/include/pcap/pcap.h ] || missing="$$missing libpcap-dev"; \
	command -v tcpdump >/dev/null 2>&1 || [ -x /usr/bin/tcpdump ] || [ -x /usr/sbin/tcpdump ] || missing="$$missing tcpdump"; \
	command -v ss >/dev/null 2>&1 || missing="$$missing iproute2"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v jq >/dev/null 2>&1 || missing="$$missing jq"; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    echo "installing:$$missing"; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "connscope needs:$$missing — install them with your package manager (Fedora: dnf install libpcap-devel tcpdump jq; macOS ships libpcap and tcpdump: brew install jq)" >&2; exit 1; \
	  fi; \
	fi

build: deps
	$(CARGO) build --release

# Profile-guided: an instrumented build reads generated captures and the
# fixtures, then the release build uses its counts (about 10-20 % faster
# on connection churn). Falls back to a plain build, saying so, when rustc's
# llvm-profdata cannot be had (rustup component add llvm-tools).
release: deps
	scripts/pgo-build.sh >/dev/null

# README's first Quick start command: analyse a bundled capture.
example: build
	TZ=UTC $(BIN) read $(EXAMPLE)

# The whole suite: unit, golden, corpus, live (root), docs-drift tests, then each
# fuzz target briefly over its regressions and seeded random inputs (fuzz-smoke).
test: deps
	$(CARGO) test --release
	cd fuzz && $(CARGO) test --release

# Regenerates everything under docs/ that is made, not written: the man pages and
# completions (from the clap definitions, examples/gen-docs.rs) and docs/guide.md,
# docs/classroom.md (from docs/*.md.in, with the real outputs). tests/docs.rs
# fails when the committed files differ from what this produces.
docs: build
	$(CARGO) run --release --quiet --example gen-docs -- docs
	CONNSCOPE=$(BIN) bash docs/make-guide.sh docs

# The binary only (the profile-guided build); for the man pages and
# completions, `make install-docs`.
install: release
	mkdir -p $(DESTDIR)$(BINDIR)
	install -m 755 $(RELEASE_BIN) $(DESTDIR)$(BINDIR)/connscope

install-docs:
	mkdir -p $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 644 docs/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 docs/completions/connscope.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/connscope
	install -m 644 docs/completions/connscope.zsh $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_connscope
	install -m 644 docs/completions/connscope.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/connscope.fish

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/connscope $(DESTDIR)$(MANDIR)/man1/connscope.1 $(DESTDIR)$(MANDIR)/man1/connscope-*.1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/connscope \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_connscope \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/connscope.fish

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

clean:
	$(CARGO) clean

# Benchmarks against tcpdump and tshark (issue 8): generates captures under
# target/bench-data/ (a few hundred MB each; needs tcpdump, tshark, jq, time),
# prints medians and the target ratios, and writes target/bench-data/results.md.
# SIZES, REPS, NO_TSHARK=1 … see scripts/bench.sh.
.PHONY: bench
bench:
	scripts/bench.sh

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
