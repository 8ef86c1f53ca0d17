# flowservice — build, test and demo. Every target installs what it needs (Debian 12).
# LUA: lua5.1, lua5.2, lua5.3, lua5.4 or luajit (each is also its pkg-config name).
LUA         ?= lua5.4
LUA_PC      ?= $(LUA)
LUA_VERSIONS := lua5.1 lua5.2 lua5.3 lua5.4 luajit
CC          ?= cc
CFLAGS      ?= -O2 -g
LIBFLAG     ?= -shared
VERSION     := $(shell sed -n 's/^local VERSION = "\(.*\)"/\1/p' lua/flowservice/init.lua)

PKG_CONFIG  ?= pkg-config
LUA_CFLAGS  := $(shell $(PKG_CONFIG) --cflags $(LUA_PC) 2>/dev/null)
CURL_CFLAGS := $(shell $(PKG_CONFIG) --cflags libcurl 2>/dev/null)
CURL_LIBS   := $(shell $(PKG_CONFIG) --libs libcurl 2>/dev/null)
# make install: one prefix for the library and the commands (DESTDIR for packagers). The Lua
# directories are those every Debian Lua searches under /usr/local: share/lua/5.x, lib/lua/5.x.
PREFIX      ?= /usr/local
LUA_ABI     := $(if $(filter luajit,$(LUA)),5.1,$(patsubst lua%,%,$(LUA)))
INST_LUADIR ?= $(PREFIX)/share/lua/$(LUA_ABI)
INST_LIBDIR ?= $(PREFIX)/lib/lua/$(LUA_ABI)
INST_BINDIR ?= $(PREFIX)/bin

WARN        := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
ALL_CFLAGS  := -std=gnu99 -fPIC $(WARN) $(CFLAGS) $(LUA_CFLAGS) $(CURL_CFLAGS) \
               -DFLOWSERVICE_VERSION='"$(VERSION)"'

# One build directory per Lua, so objects built for different headers never mix; the
# default (5.4) keeps build/flowservice/core.so.
ifeq ($(LUA),lua5.4)
BUILD       ?= build
else
BUILD       ?= build/$(LUA)
endif
SRCS        := $(wildcard src/*.c)
OBJS        := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
CORE        := $(BUILD)/flowservice/core.so

BUSTED      := busted --lua=$(LUA) --cpath='./$(BUILD)/?.so'
BUSTED_FLAGS ?=
LDOC        ?= lua5.1 /usr/bin/ldoc
# bench/ and bench/reliability/ (measurement tools) run on Lua 5.4 only, and so do their specs
# (tagged #lua54only).
ifneq ($(LUA),lua5.4)
BUSTED      += --exclude-tags=lua54only
endif
LUA_DEBIAN_PKGS_lua5.1 := lua5.1 liblua5.1-0-dev
LUA_DEBIAN_PKGS_lua5.2 := lua5.2 liblua5.2-dev
LUA_DEBIAN_PKGS_lua5.3 := lua5.3 liblua5.3-dev
LUA_DEBIAN_PKGS_luajit := luajit libluajit-5.1-dev
# Debian packages by need (the README lists the same sets). Runtime: build the core and run the
# library, the `flowservice` command (argparse) and the emulator (luasocket; luasec for HTTPS):
# `make all`'s tools and `make demo`. Test: what `make test`'s specs start besides (busted, openssl
# for certificates, luarocks for the install spec, and under Lua 5.4 the bench spec's baselines:
# nginx, curl, time, python3-requests; LDoc on Lua 5.1 for the reference spec; jq, which the
# README's quick start uses, for the spec that runs the documentation's shell blocks). Development: the
# checkers of make lint and make check.
RUNTIME_PKGS := lua5.4 liblua5.4-dev $(LUA_DEBIAN_PKGS_$(LUA)) libcurl4-openssl-dev pkg-config gcc make \
                lua-cjson lua-socket lua-sec lua-argparse
TEST_PKGS   := $(RUNTIME_PKGS) lua-busted openssl luarocks nginx-light curl time python3-requests \
               lua-ldoc lua-markdown lua5.1 jq
DEV_PKGS    := $(TEST_PKGS) lua-check valgrind cppcheck clang-tidy

.PHONY: all deps deps-runtime deps-test test test-all demo check fuzz-long lint doc install clean bench bench-short \
        reliability reliability-short mutants bench-throttle bench-throttle-short example-embed

all: $(CORE)

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(CORE): $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAG) $(LDFLAGS) -o $@ $(OBJS) $(CURL_LIBS)

# Installs the Debian packages of a set that are missing (needs root or sudo): deps-runtime for
# make demo, deps-test for make test, deps (everything) for lint, check, doc, bench and CI.
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

deps-runtime:
	$(call install_missing,$(RUNTIME_PKGS))

deps-test:
	$(call install_missing,$(TEST_PKGS))

deps:
	$(call install_missing,$(DEV_PKGS))

# FLOWSERVICE_LUA and FLOWSERVICE_CPATH: the Lua and core the processes that specs start use.
# TEST_FILES: the spec files to run (default: every one). The finalizer chaos spec runs in a
# busted process of its own (see CHAOS_SPEC), also when the first process fails.
TEST_FILES  ?=
TEST_MAIN   = $(if $(TEST_FILES),$(filter-out $(CHAOS_SPEC),$(TEST_FILES)),--exclude-pattern=$(basename $(notdir $(CHAOS_SPEC))))
TEST_CHAOS  = $(if $(TEST_FILES),$(filter $(CHAOS_SPEC),$(TEST_FILES)),$(CHAOS_SPEC))
TEST_ENV    = FLOWSERVICE_LUA=$(LUA) FLOWSERVICE_CPATH='./$(BUILD)/?.so' FLOWSERVICE_CHAOS_TRIES=$(CHAOS_TRIES_TEST)
test: deps-test
	$(MAKE) all
	$(if $(TEST_MAIN),$(TEST_ENV) $(BUSTED) $(BUSTED_FLAGS) $(TEST_MAIN),true); main=$$?; \
	$(if $(TEST_CHAOS),$(TEST_ENV) $(BUSTED) $(BUSTED_FLAGS) $(TEST_CHAOS),true) && exit $$main

# make test under every supported Lua in turn; stops at the first that fails.
test-all:
	@for lua in $(LUA_VERSIONS); do \
	  echo "== $$lua"; $(MAKE) --no-print-directory test LUA=$$lua || exit 1; \
	done

demo: deps-runtime
	$(MAKE) all
	LUA=$(LUA) FLOWSERVICE_CPATH='./$(BUILD)/?.so' sh examples/demo.sh

# Every spec twice: against an ASan+UBSan build of the core (build-asan/), then against
# the normal build under valgrind. lua5.4 itself is not instrumented, so the ASan
# runtime is preloaded; processes the specs start (fixture servers, the emulator) need
# not be checked. Leak checks are on in both runs and need no suppressions.
# Specs whose work happens in other processes (the command line, the benchmarks, LDoc, make
# install, README and docs/ scripts, the mutation check) are left out: only the busted process is instrumented.
# SPECS="spec/core_spec.lua ..." limits the run.
ASAN_BUILD  ?= build-asan
SAN_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# The chaos sweeps finish a whole collection cycle at every allocation, whose cost grows with the
# heap: in the process that has loaded and run every other spec they took 529 s on Lua 5.4
# (21 s in a process of their own), so make test and make check give them one.
CHAOS_SPEC  := spec/finalizer_chaos_spec.lua
SPECS       ?= $(filter-out spec/cli_spec.lua spec/cli_unattended_spec.lua spec/bench_spec.lua \
                 spec/reliability_bench_spec.lua spec/lint_doc_spec.lua spec/packaging_spec.lua \
                 spec/readme_spec.lua spec/mutants_spec.lua spec/throttle_bench_spec.lua spec/rocks_spec.lua spec/embed_spec.lua \
                 spec/docs_blocks_spec.lua, \
                 $(sort $(wildcard spec/*_spec.lua)))
VALGRIND    ?= valgrind --error-exitcode=1 --leak-check=full --keep-debuginfo=yes \
               --errors-for-leak-kinds=definite,indirect,possible \
               --show-leak-kinds=definite,indirect,possible --num-callers=30

CHECK_MAIN  = $(filter-out $(CHAOS_SPEC),$(SPECS))
CHECK_CHAOS = $(filter $(CHAOS_SPEC),$(SPECS))
ASAN_BUSTED = LD_PRELOAD="$$($(CC) -print-file-name=libasan.so)" \
  ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  FLOWSERVICE_LUA=$(LUA) FLOWSERVICE_CHAOS_TRIES=$(CHAOS_TRIES_ASAN) \
  $(LUA) "$$(command -v busted)" --cpath='./$(ASAN_BUILD)/?.so' $(BUSTED_FLAGS)
VALGRIND_BUSTED = FLOWSERVICE_LUA=$(LUA) FLOWSERVICE_FUZZ_CASES=$(FUZZ_CASES_VALGRIND) \
  FLOWSERVICE_CHAOS_TRIES=$(CHAOS_TRIES_VALGRIND) $(VALGRIND) $(LUA) "$$(command -v busted)" $(BUSTED_FLAGS)

check: deps
	$(MAKE) all
	$(MAKE) BUILD=$(ASAN_BUILD) CFLAGS='-O1 -g $(SAN_FLAGS)' LDFLAGS='$(SAN_FLAGS)' all
	$(if $(CHECK_MAIN),$(ASAN_BUSTED) $(CHECK_MAIN))
	$(if $(CHECK_CHAOS),$(ASAN_BUSTED) $(CHECK_CHAOS))
	$(if $(CHECK_MAIN),$(VALGRIND_BUSTED) $(CHECK_MAIN))
	$(if $(CHECK_CHAOS),$(VALGRIND_BUSTED) $(CHECK_CHAOS))

# The hostile-server fuzzer (issue 13). Its short run is spec/hostile_fuzz_spec.lua (in make
# test and make check; fewer random cases under valgrind, which is slow). The long run: rounds
# of random cases against the ASan+UBSan build, each in a child process, so a crash is reported
# with its seed and case and the run goes on. FUZZ_DURATION: seconds (default 600); FUZZ_SEED:
# the first round's seed (default: the time); FUZZ_CASES: cases a round.
FUZZ_CASES_VALGRIND ?= 150
# spec/finalizer_chaos_spec.lua: at most this many allocation points a sweep, spread evenly over
# the call. make test: 40 on 5.4, 12 on the others (a GC cycle per allocation costs more there);
# make check: 150 under ASan, 8 under valgrind (CI's time).
# Every point of a call on 5.4 is some 2,000 (about 4 minutes normally, far more under the
# sanitizers): CHAOS_TRIES_ASAN=all sweeps them all (the spec's own default on 5.4).
CHAOS_TRIES_TEST ?= $(if $(filter lua5.4,$(LUA)),40,12)
CHAOS_TRIES_ASAN ?= 150
CHAOS_TRIES_VALGRIND ?= 8
FUZZ_DURATION ?= 600
FUZZ_SEED   ?=
FUZZ_CASES  ?= 400
fuzz-long: deps
	$(MAKE) BUILD=$(ASAN_BUILD) CFLAGS='-O1 -g $(SAN_FLAGS)' LDFLAGS='$(SAN_FLAGS)' all
	FLOWSERVICE_LUA=$(LUA) $(LUA) spec/fuzz_long.lua --duration $(FUZZ_DURATION) --cases $(FUZZ_CASES) \
	  $(if $(FUZZ_SEED),--seed $(FUZZ_SEED)) --cpath './$(ASAN_BUILD)/?.so' \
	  --preload "$$($(CC) -print-file-name=libasan.so)"

# The embedding example (issue 19, docs/EMBEDDING.md): a C host built twice against Lua 5.4, with
# the shared liblua and with the static liblua5.4.a (linked -Wl,-E so that core.so, loaded by
# require, finds the Lua API in the executable), each run against an emulator run.sh starts.
EMBED_DIR   := build/embed
EMBED_CFLAGS := -std=gnu99 $(WARN) $(CFLAGS) $(shell $(PKG_CONFIG) --cflags lua5.4 2>/dev/null)
LIBLUA_A    := $(shell $(PKG_CONFIG) --variable=libdir lua5.4 2>/dev/null)/liblua5.4.a

example-embed: deps-runtime
	$(MAKE) all LUA=lua5.4
	@mkdir -p $(EMBED_DIR)
	$(CC) $(EMBED_CFLAGS) -o $(EMBED_DIR)/host-shared examples/embed/host.c $$($(PKG_CONFIG) --libs lua5.4)
	$(CC) $(EMBED_CFLAGS) -o $(EMBED_DIR)/host-static examples/embed/host.c $(LIBLUA_A) -lm -ldl -Wl,-E
	sh examples/embed/run.sh $(EMBED_DIR)/host-shared $(EMBED_DIR)/host-static

# Performance (issue 7): baselines, nginx and the emulator started by the bench itself; one
# table of ratios with PASS/FAIL. The full form takes a few minutes; CI runs the short one.
bench: deps
	$(MAKE) all
	@LUA=$(LUA) bench/run; cpu=$$?; LUA=$(LUA) bench/throttle/run; limit=$$?; \
	  [ $$cpu -ge $$limit ] && exit $$cpu; exit $$limit

bench-short: deps
	$(MAKE) all
	LUA=$(LUA) bench/run --short

# Throughput at the service's own limit (issue 18): the client against the emulator's rate limit
# (50 ms injected latency); goodput, 429 share, failed calls, duplicates with PASS/FAIL. Exit 0
# all targets hold, 1 one missed, 2 the bench broke. Full form about 3 minutes; the short form
# (CI) checks it runs and prints its table.
bench-throttle: deps
	$(MAKE) all
	LUA=$(LUA) bench/throttle/run

bench-throttle-short: deps
	$(MAKE) all
	LUA=$(LUA) bench/throttle/run --short

# Reliability figures (issue 5): retries under injected faults, the retry budget, ensure's
# duplicates, Retry-After, malformed responses. Full form by hand (~3 min), short form in CI.
reliability: deps
	$(MAKE) all
	LUA=$(LUA) bench/reliability/run

reliability-short: deps
	$(MAKE) all
	LUA=$(LUA) bench/reliability/run --short

# The mutation check (issue 20): each deliberate bug listed in mutants/*.lua is planted in a scratch
# copy of the tree, and only the spec files listed for it run (Lua 5.4); prints "N killed,
# M survived, B broken" and fails unless every mutant was killed. MUTANTS="secrets urls.dot_segment"
# limits the run to areas or mutants; MUTANT_JOBS scratch copies work at once.
MUTANT_JOBS ?= 2
mutants: deps
	lua5.4 mutants/run.lua --jobs $(MUTANT_JOBS) $(MUTANTS)

# luacheck (.luacheckrc), cppcheck and clang-tidy (.clang-tidy); any finding fails the target.
lint: deps
	luacheck .
	cppcheck --enable=warning,style,performance,portability --error-exitcode=1 --inline-suppr \
	  --std=c99 --library=posix,gnu,lua,libcurl --suppress=missingIncludeSystem --quiet \
	  -I src -DFLOWSERVICE_VERSION='"$(VERSION)"' src/
	clang-tidy --quiet $(SRCS) -- -std=gnu99 $(LUA_CFLAGS) $(CURL_CFLAGS) -DFLOWSERVICE_VERSION='"$(VERSION)"'

# The API reference (config.ld) in build/doc/. LDoc's exit status ignores its warnings:
# any line but its two progress lines fails the target.
doc: deps
	rm -rf $(BUILD)/doc
	@out=$$($(LDOC) -d $(BUILD)/doc . 2>&1); status=$$?; echo "$$out"; \
	  warnings=$$(echo "$$out" | grep -v '^reading configuration from \|^output written to '); \
	  if [ $$status -ne 0 ] || [ -n "$$warnings" ]; then echo "make doc: LDoc printed warnings (above)"; exit 1; fi

install: all
	install -d $(DESTDIR)$(INST_LIBDIR)/flowservice $(DESTDIR)$(INST_LUADIR)/flowservice/emulator \
	  $(DESTDIR)$(INST_LUADIR)/flowservice/cli $(DESTDIR)$(INST_BINDIR)
	install -m 0755 $(CORE) $(DESTDIR)$(INST_LIBDIR)/flowservice/core.so
	install -m 0644 lua/flowservice/*.lua $(DESTDIR)$(INST_LUADIR)/flowservice/
	install -m 0644 lua/flowservice/emulator/*.lua $(DESTDIR)$(INST_LUADIR)/flowservice/emulator/
	install -m 0644 lua/flowservice/cli/*.lua $(DESTDIR)$(INST_LUADIR)/flowservice/cli/
	@# the commands run under the Lua they were installed for and look for their modules under
	@# the prefix first (any PREFIX works without LUA_PATH)
	for cmd in flowservice flowservice-emulator; do \
	  { sed -n '1s|^#!/usr/bin/env lua5.4$$|#!/usr/bin/env $(LUA)|p' bin/$$cmd && \
	    echo 'package.path = "$(INST_LUADIR)/?.lua;$(INST_LUADIR)/?/init.lua;" .. package.path' && \
	    echo 'package.cpath = "$(INST_LIBDIR)/?.so;" .. package.cpath' && \
	    sed 1d bin/$$cmd; } >$(DESTDIR)$(INST_BINDIR)/$$cmd && \
	  chmod 0755 $(DESTDIR)$(INST_BINDIR)/$$cmd || exit 1; \
	done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) luarocks-tree
