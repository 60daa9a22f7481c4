# xtenant: make demo (the whole procedure against the simulator), make test, make check, make bench.
CARGO ?= cargo
PREFIX ?= /usr/local
TOOLS := entra-app-create consent-link acr-grant aks-sp-update
# Where cargo puts the binaries: CARGO_TARGET_DIR when set, as cargo itself does.
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
BIN ?= $(TARGET_DIR)/debug

.PHONY: all build test check fmt clippy demo install bench bench-realism fuzz clean

all: build

build:
	$(CARGO) build --workspace --bins

# All tests: unit, per-tool against azure-sim, end-to-end pipelines. One cargo build of the
# tests and, with them, every binary a test runs (each tool's, azure-sim's and sim-person
# come with their package's tests), so the two cores are never left with one link to do
# between two builds (issue 28). NEXTEST_DOUBLE_SPAWN=0: nextest starts each test's process
# itself, not through a second nextest process (its guard against a Ctrl-Z while a test is
# being started), 3.5 s of CPU for the suite's 760 processes.
test:
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		NEXTEST_DOUBLE_SPAWN=0 $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi

# The property tests of the envelope reader, the driver's input stream and the resource-id
# parser, long: 100000 cases each (make test runs 256), optimised so it ends in minutes.
FUZZ_CASES ?= 100000
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release -p common --test it -- props:: --test-threads 2

# Benchmarks against azure-sim, release build: writes bench/RESULTS.md (docs/performance.md's
# figures quote it). A couple of minutes on 2 cores, after the build.
bench:
	$(CARGO) build --release --workspace --bins
	$(TARGET_DIR)/release/xtenant-bench --out bench/RESULTS.md $(BENCH_ARGS)
	scripts/bench-realism.sh $(TARGET_DIR)/release >> bench/RESULTS.md

# Only the procedure at Azure's pace and step 4's cluster writes (about 30 s), printed as the
# section make bench appends to bench/RESULTS.md: make bench-realism [BIN=target/debug]
bench-realism:
	scripts/bench-realism.sh $(or $(BIN),$(TARGET_DIR)/debug) 0.01 0.02

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

check:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@if command -v shellcheck >/dev/null; then shellcheck examples/*.sh scripts/*.sh; \
	else echo "shellcheck is not installed: the shell scripts are not checked"; fi
	$(MAKE) test

# SCENARIO=china runs it in Azure China (the tools on --cloud AzureChinaCloud, names resolved to
# the simulator), SCENARIO=national or a file in another world; SIM_FLAGS adds azure-sim flags.
# Azure's durations as documented, its clock TIME_SCALE times as fast (0.01: the reset in 9 s).
TIME_SCALE ?= 0.01
demo: build
	@TIME_SCALE=$(TIME_SCALE) SIM_FLAGS="$(SIM_FLAGS)" scripts/demo.sh $(BIN) $(SCENARIO)

install:
	$(CARGO) build --workspace --release --bins
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	@for t in $(TOOLS); do \
		install -m 0755 $(TARGET_DIR)/release/$$t $(DESTDIR)$(PREFIX)/bin/$$t && \
		$(TARGET_DIR)/release/$$t --generate man > $(DESTDIR)$(PREFIX)/share/man/man1/$$t.1 && \
		$(TARGET_DIR)/release/$$t --generate bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$t && \
		$(TARGET_DIR)/release/$$t --generate zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_$$t && \
		$(TARGET_DIR)/release/$$t --generate fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/$$t.fish || exit 1; \
	done
	install -m 0755 $(TARGET_DIR)/release/azure-sim $(DESTDIR)$(PREFIX)/bin/azure-sim

clean:
	$(CARGO) clean
