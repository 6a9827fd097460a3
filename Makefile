# fstore front door: deps, build, test, demo, stop, bench.
# Every target installs what it needs, so `make demo` and `make test` work on a fresh machine.

SHELL := /bin/bash
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
SANITIZE ?= OFF
JOBS ?= $(shell nproc)

DEB_PACKAGES := postgresql-15 postgresql-server-dev-15 libpqxx-dev libhiredis-dev \
                nlohmann-json3-dev libboost1.81-dev libssl-dev librdkafka-dev redis-server libgtest-dev wrk \
                cmake g++ make jq bc chromium \
                python3-psycopg python3-pandas python3-requests python3-pytest \
                libcli11-dev libyaml-cpp-dev
# The web UI is bundled with Node.js and npm (ui/package-lock.json); Debian's packages unless a
# node and npm are already installed (e.g. from another source that ships npm inside nodejs).
NODE_PACKAGES := nodejs npm

# Run privileged steps through sudo when we are not root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build build-ext build-server build-ui build-asan install install-ext test test-sanitize demo stop bench clean

all: build

# deps: install the Debian packages that are missing (non-interactive, idempotent).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	command -v node >/dev/null && command -v npm >/dev/null || missing="$$missing $(NODE_PACKAGES)"; \
	if [ -n "$$missing" ]; then \
	  echo "fstore: installing$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "fstore: all Debian packages present"; fi

build: build-ext build-server build-ui

build-ext:
	$(MAKE) -f Makefile.pgxs -j$(JOBS)

build-server:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DFSTORE_SANITIZE=$(SANITIZE) >/dev/null
	cmake --build $(BUILD_DIR) -j$(JOBS) $(if $(TARGETS),--target $(TARGETS))

# The web UI: npm ci (exactly ui/package-lock.json, no install scripts) when the lock file
# changed, then esbuild bundles ui/src into $(BUILD_DIR)/ui, which fstore-server serves at /ui/.
UI_OUT := $(abspath $(BUILD_DIR))/ui
ui/node_modules/.package-lock.json: ui/package.json ui/package-lock.json
	cd ui && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

build-ui: ui/node_modules/.package-lock.json
	node ui/build.mjs $(UI_OUT)

# The server, the unit tests and the HTTP integration tests again, with address and
# undefined-behaviour sanitizers: only what the sanitizer pass runs.
build-asan:
	$(MAKE) build-server BUILD_DIR=build-asan SANITIZE=ON TARGETS="fstore-server fstore_unit_tests fstore_http_tests"

# install: for packagers. fstore and fstore-server into $(DESTDIR)$(PREFIX)/bin, the extension into
# $(DESTDIR) + the directories pg_config names (no sudo: run it as the user that may write there).
PREFIX ?= /usr/local
install: build
	install -D -m 755 $(BUILD_DIR)/fstore $(DESTDIR)$(PREFIX)/bin/fstore
	install -D -m 755 $(BUILD_DIR)/fstore-server $(DESTDIR)$(PREFIX)/bin/fstore-server
	$(MAKE) -f Makefile.pgxs install DESTDIR=$(DESTDIR)

install-ext: build-ext
	$(SUDO) $(MAKE) -f Makefile.pgxs install

# test: from nothing to every suite run against PostgreSQL and Redis started in a temp dir,
# including the sanitizer pass (unit and HTTP integration tests on the ASan+UBSan build).
test: deps build build-asan install-ext
	BUILD_DIR=$(BUILD_DIR) ASAN_BUILD_DIR=build-asan tests/run_all.sh

# test-sanitize: only the sanitizer pass.
test-sanitize: deps build-asan install-ext
	ASAN_BUILD_DIR=build-asan FSTORE_SUITES=sanitize tests/run_all.sh

demo: deps build install-ext
	tools/demo.sh start

stop:
	tools/demo.sh stop

bench: deps build install-ext
	bench/run_all.sh

clean:
	$(MAKE) -f Makefile.pgxs clean
	rm -rf $(BUILD_DIR) build-asan ui/node_modules
