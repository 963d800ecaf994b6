# vex_net — build, test and benchmark every backend this OS supports.
#   make                      every available backend into build/<backend>/
#   make BACKEND=io_uring     one backend
#   make SANITIZE=1           ASan+UBSan build into build/<backend>-san/
#   make PORTABLE=1           poll with the FreeBSD/macOS fallbacks into build/poll-portable/
#   make install [PREFIX=/usr/local] [DESTDIR=]   make uninstall
#   make DEBUG=1              -O0 -g3 build into build/<backend>-debug/
#   make test                 deps, then every test on every available backend
#   make bench [BACKEND=..] [PROFILE=..] [DURATION=..] [TRIALS=..] [CONNECTIONS=..] [PEERS=..] [OUT=..] [INVENTORY=hosts.toml]
#   make ref                  the minimal reference servers build/bench/ref_epoll, ref_uring (PEERS=ref)
#   make plot [RUN=results/latest]   make trend [RUNS=results] [METRICS=..]   make gate [BASE=ref] [GATE_ARGS=..]   make cost [VARIANT=accesslog] [BUDGET=0.05]   make deps   make clean
.DEFAULT_GOAL := all
SHELL := /bin/bash
# Debian's python3 has matplotlib/scipy/pytest; elsewhere use the one on PATH.
PY ?= $(if $(wildcard /usr/bin/python3),/usr/bin/python3,$(shell command -v python3))
# The server suite mostly waits, so it runs in TEST_JOBS processes when
# pytest-xdist is there (see scripts/run_tests.sh); TEST_JOBS=1: serially.
TEST_JOBS ?= 4
PYTEST_PAR = $(shell TEST_JOBS=$(TEST_JOBS) scripts/pytest_jobs.sh $(PY))

# ---- make gate (alone on the command line): run ci/gate.py now, keep its exit status.
# Its output goes to stderr (the terminal), live. GATE_DEPS=0 skips `make deps`.
# `make -n gate` would run it too: it is not a file target.
GATE_DEPS ?= 1
ifeq ($(strip $(MAKECMDGOALS)),gate)
  $(shell $(if $(filter 1,$(GATE_DEPS)),./scripts/deps.sh >&2 || exit 2;) \
    $(PY) ci/gate.py $(if $(BASE),--base $(BASE)) $(if $(BACKEND),--backend $(BACKEND)) \
    $(GATE_ARGS) >&2)
  GATE_RC := $(.SHELLSTATUS)
  ifeq ($(GATE_RC),1)
    MAKEFLAGS += -q
  else ifneq ($(GATE_RC),0)
    $(error ci/gate.py exited $(GATE_RC) (2: could not decide or could not run; see above))
  endif
endif

UNAME := $(shell uname -s)
ifeq ($(UNAME),Linux)
  HAVE_URING := $(shell printf '\043include <liburing.h>\nint main(void){return 0;}' | $(or $(CC),cc) -x c - -o /dev/null -luring 2>/dev/null && echo yes)
  AVAILABLE := epoll $(if $(HAVE_URING),io_uring) poll
else
  AVAILABLE := kqueue poll
  # Homebrew (Apple Silicon) and FreeBSD ports install outside the default paths.
  PKG_PREFIX := $(if $(filter Darwin,$(UNAME)),$(shell brew --prefix 2>/dev/null),/usr/local)
  CFLAGS_BASE_EXTRA := -I$(PKG_PREFIX)/include
  LDFLAGS += -L$(PKG_PREFIX)/lib
endif
ALL_BACKENDS := epoll io_uring kqueue poll

CC ?= cc
WERROR ?= 1
# Before CFLAGS_BASE: it is expanded once (:=), so OPT must be final here.
ifeq ($(DEBUG),1)   # no optimisation, full debug info: build/<backend>-debug/
  OPT := -O0 -g3
  SUFFIX := -debug
endif
OPT ?= -O2
CFLAGS_BASE := -std=c11 -g $(OPT) -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) \
               -D_GNU_SOURCE -Iinclude -Isrc -MMD -MP $(CFLAGS_BASE_EXTRA)
ifeq ($(SANITIZE),1)
  SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  SUFFIX := $(SUFFIX)-san
endif
# SANITIZE=thread: ThreadSanitizer build into build/<backend>-tsan/ (make test-tsan).
ifeq ($(SANITIZE),thread)
  SAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
  SUFFIX := $(SUFFIX)-tsan
endif
# BENCH_SLOWDOWN=N adds N units of fixed work per request (gate validation only).
ifneq ($(BENCH_SLOWDOWN),)
  EXTRA_DEFS += -DVEX_BENCH_SLOWDOWN=$(BENCH_SLOWDOWN)
  SUFFIX := $(SUFFIX)-slow$(BENCH_SLOWDOWN)
endif
# PORTABLE=1: the Linux-only calls (openat2, O_PATH, memfd, accept4,
# eventfd, Linux sendfile) switched off and the fallbacks FreeBSD and macOS
# use compiled in (-DVEX_PORTABLE), so those code paths run on Linux too.
# poll (or kqueue with LIBKQUEUE=1) only, into build/<backend>-portable[-san]/.
ifeq ($(PORTABLE),1)
  ifneq ($(filter $(BACKEND),epoll io_uring),)
    $(error PORTABLE=1 builds poll or kqueue only, not $(BACKEND))
  endif
  AVAILABLE := poll
  EXTRA_DEFS += -DVEX_PORTABLE
  SUFFIX := -portable$(SUFFIX)
endif
# KQSHIM=1 (Linux, BACKEND=kqueue only): build kqueue.c against our test
# stand-in tests/kqshim/sys/event.h and link the poll(2)-based emulation
# tests/kqshim/kqshim.c into the library, into build/kqueue-kqshim[-san]/.
# It checks kqueue.c's bookkeeping, not real BSD kernel behaviour.
# The server and HTTP objects do not depend on the backend: they are built
# once per flavour into build/common$(SUFFIX)/ and linked into every
# backend's production_server (before -kqshim joins SUFFIX: the shim only
# touches kqueue.c).
COMMON := build/common$(SUFFIX)
ifeq ($(KQSHIM),1)
  ifneq ($(UNAME)/$(BACKEND),Linux/kqueue)
    $(error KQSHIM=1 needs Linux and BACKEND=kqueue)
  endif
  SUFFIX := -kqshim$(SUFFIX)
  KQSHIM_INC := -Itests/kqshim
  KQSHIM_SRC := tests/kqshim/kqshim.c
endif
CFLAGS_COMMON = $(CFLAGS_BASE) $(SAN_FLAGS) $(EXTRA_DEFS) $(CFLAGS)
# LIBKQUEUE=1 (Linux, BACKEND=kqueue only): kqueue.c against libkqueue's
# <sys/event.h> and -lkqueue, a userspace kqueue we did not write, installed
# by `make test-libkqueue` into build/libkqueue/inst; into
# build/kqueue-libkqueue[-portable][-san]/.
LKQ_PREFIX := $(abspath build/libkqueue/inst)
ifeq ($(LIBKQUEUE),1)
  ifneq ($(UNAME)/$(BACKEND),Linux/kqueue)
    $(error LIBKQUEUE=1 needs Linux and BACKEND=kqueue)
  endif
  ifeq ($(KQSHIM),1)
    $(error LIBKQUEUE=1 and KQSHIM=1 are two different kqueues: choose one)
  endif
  SUFFIX := -libkqueue$(SUFFIX)
  KQSHIM_INC := -I$(LKQ_PREFIX)/include/kqueue -DVEX_LIBKQUEUE
  BACKEND_LIBS_kqueue := -L$(LKQ_PREFIX)/lib -Wl,-rpath,$(LKQ_PREFIX)/lib -lkqueue
endif
CFLAGS_ALL = $(CFLAGS_BASE) $(KQSHIM_INC) $(SAN_FLAGS) $(EXTRA_DEFS) $(CFLAGS)
LDFLAGS_ALL = $(SAN_FLAGS) $(LDFLAGS)
LIBS := -lpthread
# production_server's configuration file (YAML, libyaml-dev).
SERVER_LIBS := -lyaml -lssl -lcrypto -lcrypt -lz -lbrotlienc -lzstd

CORE_SRC := src/loop.c src/timer.c src/buf.c src/sockopt.c src/fd_table.c src/sock_pool.c
READINESS_SRC := src/backends/readiness.c src/backends/sendfile.c
BACKEND_SRC_epoll    := $(READINESS_SRC) src/backends/epoll.c
BACKEND_SRC_kqueue   := $(READINESS_SRC) src/backends/kqueue.c
BACKEND_SRC_poll     := $(READINESS_SRC) src/backends/poll.c
BACKEND_SRC_io_uring := src/backends/io_uring.c src/backends/pagecache.c
BACKEND_LIBS_io_uring := -luring

# Installed names (make install): one library per backend, libvex_net-<backend>,
# with soname lib...so.<major> from VEX_NET_VERSION in include/vex_net.h.
VERSION := $(shell sed -n 's/^\#define VEX_NET_VERSION "\(.*\)"/\1/p' include/vex_net.h)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))
ifeq ($(UNAME),Darwin)
  SHLIB_REAL = libvex_net-$(1).$(VERSION).dylib
  SHLIB_SONAME = libvex_net-$(1).$(SOMAJOR).dylib
  SHLIB_DEV = libvex_net-$(1).dylib
  SHLIB_FLAGS = -dynamiclib -install_name $(LIBDIR)/$(call SHLIB_SONAME,$(1)) \
                -Wl,-exported_symbol,_vex_*
else
  SHLIB_REAL = libvex_net-$(1).so.$(VERSION)
  SHLIB_SONAME = libvex_net-$(1).so.$(SOMAJOR)
  SHLIB_DEV = libvex_net-$(1).so
  SHLIB_FLAGS = -shared -Wl,-soname,$(call SHLIB_SONAME,$(1)) -Wl,--version-script=src/vex_net.map
endif
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(if $(filter Linux,$(UNAME)),$(PREFIX)/lib/systemd/system)

HTTP_SRC   := $(wildcard src/http/*.c)
SERVER_SRC := $(wildcard src/server/*.c)

# BACKEND=a,b (make bench, make gate): a list, for the tools; one name: that build.
comma := ,
BACKENDS_ASKED := $(subst $(comma), ,$(BACKEND))
ifneq ($(filter-out $(ALL_BACKENDS),$(BACKENDS_ASKED)),)
  $(error unknown BACKEND '$(filter-out $(ALL_BACKENDS),$(BACKENDS_ASKED))'; choose from: $(ALL_BACKENDS))
endif
ifeq ($(words $(BACKENDS_ASKED)),1)
# ---------------------------------------------------------------- one backend
B := build/$(BACKEND)$(SUFFIX)
LIB := $(B)/libvex_net.a
LIB_SRC := $(CORE_SRC) $(BACKEND_SRC_$(BACKEND)) $(KQSHIM_SRC)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
HTTP_OBJ := $(HTTP_SRC:%.c=$(COMMON)/obj/%.o)
SERVER_OBJ := $(SERVER_SRC:%.c=$(COMMON)/obj/%.o)
ALL_LIBS := $(BACKEND_LIBS_$(BACKEND)) $(LIBS)

PROGRAMS := $(B)/vex_probe $(B)/test_conformance $(B)/echo_bench $(B)/vex_loadgen
ifneq ($(SERVER_SRC),)
  PROGRAMS += $(B)/production_server $(B)/test_platform $(B)/test_log $(B)/test_cidr \
              $(B)/test_ratelimit $(B)/test_access
endif
ifeq ($(BACKEND),io_uring)
  PROGRAMS += $(B)/test_pagecache
endif
ifneq ($(HTTP_SRC),)
  PROGRAMS += $(B)/test_http_parser $(B)/test_http1
endif
ifeq ($(KQSHIM),1)
  PROGRAMS += $(B)/test_kqueue_poller
endif

.PHONY: all backend
all backend: $(LIB) $(PROGRAMS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# Two builds of different backends may run at once (make gate builds two in
# parallel) and share these: write to a private name, then rename, so a
# reader never sees a half-written object.
$(COMMON)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -MF $@.d.$$$$ -MT $@ -c $< -o $@.$$$$ && \
	  mv -f $@.d.$$$$ $(@:.o=.d) && mv -f $@.$$$$ $@

$(LIB): $(LIB_OBJ)
	$(AR) rcs $@ $^

# The shared library (make install): the same sources compiled -fPIC,
# exporting only vex_* (src/vex_net.map).
SHLIB := $(B)/$(call SHLIB_REAL,$(BACKEND))
PIC_OBJ := $(LIB_SRC:%.c=$(B)/pic/%.o)
.PHONY: shared
shared: $(SHLIB)
$(B)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -DVEX_BACKEND_$(BACKEND) -c $< -o $@
$(SHLIB): $(PIC_OBJ) src/vex_net.map
	$(CC) $(call SHLIB_FLAGS,$(BACKEND)) $(PIC_OBJ) -o $@ $(LDFLAGS_ALL) $(ALL_LIBS)

$(B)/test_conformance: $(wildcard tests/conformance/*.c) $(LIB)
	$(CC) $(CFLAGS_ALL) $(filter %.c,$^) $(LIB) -o $@ $(LDFLAGS_ALL) -lcmocka $(ALL_LIBS)

# The http1 layer and the handlers alone, over a fake transport.
$(B)/test_http1: tests/unit/test_http1.c $(filter-out %/main.o,$(SERVER_OBJ)) $(HTTP_OBJ) $(LIB)
	$(CC) $(CFLAGS_ALL) $(filter %.c %.o %.a,$^) -o $@ $(LDFLAGS_ALL) -lcmocka $(SERVER_LIBS) $(ALL_LIBS)
# src/server/platform.c's beneath-root walk against openat2 (Linux).
$(B)/test_platform: tests/unit/test_platform.c src/server/platform.c src/server/platform.h
	$(CC) $(CFLAGS_ALL) $< -o $@ $(LDFLAGS_ALL) -lcmocka

# The logger alone: JSON escaping, request ids, setting parsers, the writer.
LOG_UNIT_SRC := src/server/log_json.c src/server/request_id.c src/server/log_config.c src/server/log.c \
                src/server/access_log.c
$(B)/test_log: tests/unit/test_log.c $(LOG_UNIT_SRC) $(LOG_UNIT_SRC:.c=.h)
	$(CC) $(CFLAGS_ALL) $(filter %.c,$^) -o $@ $(LDFLAGS_ALL) -lcmocka -lpthread

# Address ranges (allow/deny lists, trusted proxies, rate-limit prefixes).
$(B)/test_cidr: tests/unit/test_cidr.c src/server/cidr.c src/server/cidr.h
	$(CC) $(CFLAGS_ALL) $(filter %.c,$^) -o $@ $(LDFLAGS_ALL) -lcmocka

# Rate limits, PROXY headers, per-client connection counts (pure code).
$(B)/test_ratelimit: tests/unit/test_ratelimit.c src/server/ratelimit.c src/server/proxy_proto.c \
                     src/server/connlimit.c src/server/cidr.c src/server/ratelimit.h \
                     src/server/proxy_proto.h src/server/connlimit.h src/server/cidr.h
	$(CC) $(CFLAGS_ALL) $(filter %.c,$^) -o $@ $(LDFLAGS_ALL) -lcmocka -lpthread

# Access rules, the failed-authentication table and the Basic cache.
ACCESS_UNIT_SRC := src/server/access_config.c src/server/auth_basic.c src/server/cidr.c
$(B)/test_access: tests/unit/test_access.c $(ACCESS_UNIT_SRC) $(ACCESS_UNIT_SRC:.c=.h)
	$(CC) $(CFLAGS_ALL) $(filter %.c,$^) -o $@ $(LDFLAGS_ALL) -lcmocka -lcrypto -lcrypt -lpthread

# io_uring's page-cache residency check (cachestat(2)) against real files.
$(B)/test_pagecache: tests/unit/test_pagecache.c src/backends/pagecache.c src/backends/pagecache.h
	$(CC) $(CFLAGS_ALL) $(filter %.c,$^) -o $@ $(LDFLAGS_ALL) -lcmocka

$(B)/test_http_parser: tests/unit/test_http_parser.c $(HTTP_OBJ)
	$(CC) $(CFLAGS_ALL) $(filter %.c %.o,$^) -o $@ $(LDFLAGS_ALL) -lcmocka

# kqueue.c alone (and the fd-table helper it grows its map with), with a
# stub vex__readiness_event(), against the emulation.
$(B)/test_kqueue_poller: tests/kqshim/kq_unit.c $(B)/obj/src/backends/kqueue.o \
                         $(B)/obj/src/fd_table.o $(B)/obj/tests/kqshim/kqshim.o
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LDFLAGS_ALL) -lcmocka $(LIBS)

$(B)/vex_probe: tools/vex_probe.c $(LIB)
	$(CC) $(CFLAGS_ALL) $< $(LIB) -o $@ $(LDFLAGS_ALL) $(ALL_LIBS)

$(B)/echo_bench: bench/echo_bench.c $(LIB)
	$(CC) $(CFLAGS_ALL) $< $(LIB) -o $@ $(LDFLAGS_ALL) $(ALL_LIBS)

# Open-loop load generator (bench/loadgen/README.md) and its histogram's unit tests.
LOADGEN_SRC := $(wildcard bench/loadgen/*.c)
$(B)/vex_loadgen: $(LOADGEN_SRC) $(wildcard bench/loadgen/*.h) $(LIB)
	$(CC) $(CFLAGS_ALL) $(LOADGEN_SRC) $(LIB) -o $@ $(LDFLAGS_ALL) $(ALL_LIBS) -lm

$(B)/production_server: $(SERVER_OBJ) $(HTTP_OBJ) $(LIB)
	$(CC) $^ -o $@ $(LDFLAGS_ALL) $(SERVER_LIBS) $(ALL_LIBS)

-include $(shell find $(B) $(COMMON) -name '*.d' 2>/dev/null)

else
# ------------------------------------------------------- every backend here
.PHONY: all
all:
	@set -e; for b in $(AVAILABLE); do $(MAKE) --no-print-directory BACKEND=$$b; done
endif

.PHONY: deps test test-c test-san test-python test-kqshim test-portable test-libkqueue check-symbols test-testssl \
        bench cost plot trend gate clean fuzz fuzz-replay fuzz-llhttp ref test-abuse soak test-soak test-tsan
deps:
	@./scripts/deps.sh

# The backend list is decided by run_tests.sh when it runs (after deps), not
# here: a library `make deps` just installed must count. REQUIRE_BACKENDS=a,b
# turns a skip of a or b into a failure.
test: deps
ifeq ($(PORTABLE),1)
	@$(MAKE) --no-print-directory test-portable
else
	@./scripts/run_tests.sh $(BACKEND)
endif

# make test PORTABLE=1: the suites that run C code, against the poll backend
# built with the FreeBSD/macOS fallbacks (plain and ASan+UBSan), and a check
# that the binaries import none of the Linux-only calls.
test-portable: deps
	@set -e; for s in 0 1; do $(MAKE) --no-print-directory -s BACKEND=poll PORTABLE=1 SANITIZE=$$s; done
	@$(MAKE) --no-print-directory -s BACKEND=poll PORTABLE= build/poll/test_platform
	@set -e; for d in build/poll-portable build/poll-portable-san; do \
	  $$d/test_http_parser; $$d/test_platform; $$d/test_conformance; done
	build/poll/test_platform
	VEX_TEST_BACKENDS=poll-portable $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_PAR) \
	  tests/python/platform/test_portable_build.py tests/python/server

# testssl.sh against a TLS listener on epoll and io_uring (about 90 s each, in
# parallel): no HIGH or CRITICAL finding in its JSON. .ci/run runs it.
test-testssl: deps
	@for b in epoll io_uring; do $(MAKE) --no-print-directory -s BACKEND=$$b; done
	VEX_TEST_TESTSSL=1 VEX_TEST_TIME_LIMIT=420 VEX_TEST_SAN=0 VEX_TEST_BACKENDS="epoll io_uring" $(PY) -m pytest -q -rs \
	  -p no:cacheprovider $(PYTEST_PAR) -k testssl tests/python/server/test_server_tls.py

# Abuse and fault suite (tests/python/abuse, slow-marked; not part of `make test`):
# every built backend, plain builds (ABUSE_SAN=1: the -san builds). Figures go to
# results/abuse/<UTC stamp>/{summary.json,table.md}. Sizes: VEX_ABUSE_* (see the tests).
ABUSE_SAN ?= 0
test-abuse:
	@set -e; for b in $(if $(BACKEND),$(BACKEND),$(AVAILABLE)); do \
	  $(MAKE) --no-print-directory -s BACKEND=$$b $(if $(filter 1,$(ABUSE_SAN)),SANITIZE=1); done
	VEX_ABUSE_OUT=$${VEX_ABUSE_OUT:-results/abuse/$$(date -u +%Y%m%dT%H%M%SZ)} \
	  VEX_TEST_SAN=$(ABUSE_SAN) $(if $(BACKEND),VEX_TEST_BACKENDS=$(BACKEND)) \
	  $(PY) -m pytest -q -p no:cacheprovider tests/python/abuse

# Soak: scripts/soak.py, mixed wrk load for SOAK_SECONDS (default 600) on BACKEND
# (default epoll); soak.json + soak.png into SOAK_OUT (default results/soak/<backend>-<UTC>).
SOAK_SECONDS ?= 600
soak:
	@$(MAKE) --no-print-directory -s BACKEND=$(or $(BACKEND),epoll)
	$(PY) scripts/soak.py --duration $(SOAK_SECONDS) --backend $(or $(BACKEND),epoll) \
	  $(if $(SOAK_OUT),--out $(SOAK_OUT))
# The short soak: TEST_SOAK_SECONDS (60) on each of SOAK_BACKENDS (epoll and
# io_uring where built; .ci/run takes io_uring alone to stay within its time);
# fails on a server exit code, an fd not back, or an uncompressed
# compressed-class response. Output in build/soak/<backend>/.
TEST_SOAK_SECONDS ?= 60
SOAK_BACKENDS ?= $(filter epoll io_uring,$(AVAILABLE))
test-soak:
	@set -e; for b in $(SOAK_BACKENDS); do \
	  $(MAKE) --no-print-directory -s BACKEND=$$b; \
	  $(PY) scripts/soak.py --duration $(TEST_SOAK_SECONDS) --backend $$b --out build/soak/$$b; done

# ThreadSanitizer: the server suite against build/<backend>-tsan/ (SANITIZE=thread),
# every backend by default (TSAN_BACKENDS; io_uring's ring closes are told to
# TSan, see src/backends/io_uring.c); not part of `make test`.
TSAN_BACKENDS ?= $(filter epoll io_uring poll,$(AVAILABLE))
test-tsan:
	@set -e; for b in $(TSAN_BACKENDS); do \
	  $(MAKE) --no-print-directory -s BACKEND=$$b SANITIZE=thread build/$$b-tsan/production_server; done
	VEX_TEST_TSAN=1 VEX_TEST_BACKENDS="$(TSAN_BACKENDS)" $(PY) -m pytest -q -p no:cacheprovider \
	  $(PYTEST_PAR) tests/python/server

bench: deps
	@set -e; for b in $(if $(BACKEND),$(BACKENDS_ASKED),$(AVAILABLE)); do $(MAKE) --no-print-directory BACKEND=$$b; done
	@$(MAKE) --no-print-directory ref
	$(PY) scripts/bench.py $(if $(BACKEND),--backend $(BACKEND)) $(if $(PROFILE),--profile $(PROFILE)) \
	  $(if $(DURATION),--duration $(DURATION)) $(if $(TRIALS),--trials $(TRIALS)) \
	  $(if $(CONNECTIONS),--connections $(CONNECTIONS)) $(if $(PEERS),--peers $(PEERS)) $(if $(OUT),--out $(OUT)) \
	  $(if $(INVENTORY),--inventory $(INVENTORY))

# What a feature costs: the same server off and on as A/B pairs with a confidence
# interval, judged against BUDGET (ci/cost.py; README "What a feature costs").
#   make cost VARIANT=accesslog BUDGET=0.05 [BACKEND=epoll,io_uring] [COST_ARGS='--pairs 24']
VARIANT ?= accesslog
BUDGET ?= 0.05
cost: deps
	$(PY) ci/cost.py --variant $(VARIANT) --budget $(BUDGET) --backend $(or $(BACKEND),epoll) $(COST_ARGS)

# Minimal reference servers (bench/ref_*.c), the floor `make bench PEERS=ref`
# compares each backend's CPU per request with: build/bench/ref_epoll, and
# build/bench/ref_uring where liburing is installed. Always -O2, no library.
REF_DIR := build/bench
REF_PROGRAMS := $(if $(filter Linux,$(UNAME)),$(REF_DIR)/ref_epoll $(if $(HAVE_URING),$(REF_DIR)/ref_uring))
REF_CFLAGS := -std=c11 -g -O2 -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) -D_GNU_SOURCE $(CFLAGS)
.PHONY: ref
ref: $(REF_PROGRAMS)
$(REF_DIR)/ref_%: bench/ref_%.c bench/ref_common.c bench/ref_common.h
	@mkdir -p $(dir $@)
	$(CC) $(REF_CFLAGS) $< bench/ref_common.c -o $@.$$$$ $(LDFLAGS) $(if $(filter ref_uring,$(notdir $@)),-luring) && mv -f $@.$$$$ $@

# kqueue.c on Linux through tests/kqshim (plain and ASan+UBSan).
test-kqshim:
	@set -e; for s in 0 1; do $(MAKE) --no-print-directory BACKEND=kqueue KQSHIM=1 SANITIZE=$$s; done
	@set -e; for d in build/kqueue-kqshim build/kqueue-kqshim-san; do \
	  $$d/test_kqueue_poller; $$d/test_conformance; done

# Every built libvex_net.a (build/*/) defines only vex_* globals. A canary
# archive with one stray global must fail first, so the check is checked.
CANARY := build/check-symbols/libcanary.a
check-symbols:
	@mkdir -p $(dir $(CANARY))
	@printf 'int vex_fine(void) { return 0; }\nint stray_global(void) { return 1; }\n' | \
	  $(CC) -x c -c - -o $(CANARY:.a=.o) && rm -f $(CANARY) && $(AR) rcs $(CANARY) $(CANARY:.a=.o)
	@if $(PY) scripts/check_symbols.py $(CANARY) > $(CANARY:.a=.out) || \
	    ! grep -q "'stray_global'" $(CANARY:.a=.out); then \
	  cat $(CANARY:.a=.out); echo "check-symbols: the canary's stray_global was not caught"; exit 1; fi
	@libs=$$(ls build/*/libvex_net.a 2>/dev/null); \
	  [ -n "$$libs" ] || { echo "check-symbols: no build/*/libvex_net.a: run make first"; exit 1; }; \
	  $(PY) scripts/check_symbols.py $$libs
# kqueue.c, the conformance suite and the server tests against libkqueue
# (see LIBKQUEUE=1 above), also with PORTABLE=1 (closest to macOS), built from LIBKQUEUE_SRC (a source directory or
# .tar.gz; default: the snapshot in ../shared/vendor/ next to the main
# checkout). Skipped, with the reason, when there is none.
LIBKQUEUE_SRC ?= $(firstword $(wildcard ../shared/vendor/libkqueue-*.tar.gz \
  $(dir $(shell git rev-parse --path-format=absolute --git-common-dir 2>/dev/null))../shared/vendor/libkqueue-*.tar.gz))
test-libkqueue: deps
	@if [ -z '$(LIBKQUEUE_SRC)' ] || [ ! -e '$(LIBKQUEUE_SRC)' ]; then \
	  echo "SKIP test-libkqueue: no libkqueue source (LIBKQUEUE_SRC='$(LIBKQUEUE_SRC)'; set it to a libkqueue directory or .tar.gz)"; \
	  exit 0; fi; \
	set -e; $(MAKE) --no-print-directory libkqueue; \
	for s in 0 1; do $(MAKE) --no-print-directory -s BACKEND=kqueue LIBKQUEUE=1 SANITIZE=$$s; done; \
	$(MAKE) --no-print-directory -s BACKEND=kqueue LIBKQUEUE=1 PORTABLE=1; \
	for d in build/kqueue-libkqueue build/kqueue-libkqueue-san build/kqueue-libkqueue-portable; do \
	  $$d/test_conformance; done; \
	for b in kqueue-libkqueue kqueue-libkqueue-portable; do \
	  VEX_TEST_BACKENDS=$$b $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_PAR) tests/python/server; done

# libkqueue from LIBKQUEUE_SRC into build/libkqueue/ (cmake; logs there).
.PHONY: libkqueue
libkqueue: $(LKQ_PREFIX)/lib/libkqueue.so
$(LKQ_PREFIX)/lib/libkqueue.so: $(filter-out %/,$(wildcard $(LIBKQUEUE_SRC)))
	@test -n '$(LIBKQUEUE_SRC)' || { echo "libkqueue: set LIBKQUEUE_SRC" >&2; exit 1; }
	rm -rf build/libkqueue && mkdir -p build/libkqueue/src
	if [ -d '$(LIBKQUEUE_SRC)' ]; then cp -a '$(LIBKQUEUE_SRC)'/. build/libkqueue/src/; \
	else tar -xzf '$(LIBKQUEUE_SRC)' -C build/libkqueue/src --strip-components=1; fi
	GIT_CEILING_DIRECTORIES=$(abspath build/libkqueue) cmake -S build/libkqueue/src -B build/libkqueue/build -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_INSTALL_PREFIX=$(LKQ_PREFIX) -DCMAKE_INSTALL_LIBDIR=lib > build/libkqueue/cmake.log
	$(MAKE) -C build/libkqueue/build -j2 install > build/libkqueue/build.log

# make install [PREFIX=/usr/local] [DESTDIR=] [INSTALL_BACKENDS=..] [SERVER_BACKEND=..]:
# vex_net.h; per backend libvex_net-<backend>.a, the shared library with its
# soname links and pkgconfig/vex_net-<backend>.pc; production_server (built on
# SERVER_BACKEND: epoll on Linux, kqueue elsewhere), its man page and, on
# Linux, the systemd unit dist/systemd/ in SYSTEMDUNITDIR.
INSTALL_BACKENDS ?= $(AVAILABLE)
SERVER_BACKEND ?= $(firstword $(filter epoll kqueue,$(INSTALL_BACKENDS)) $(INSTALL_BACKENDS))
pc_private = $(if $(filter io_uring,$(1)),-luring )-lpthread
.PHONY: install uninstall
install:
	@set -e; for b in $(sort $(INSTALL_BACKENDS) $(SERVER_BACKEND)); do \
	  $(MAKE) --no-print-directory -s BACKEND=$$b all shared; done
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR) \
	  $(DESTDIR)$(MANDIR)/man1
	install -m 644 include/vex_net.h $(DESTDIR)$(INCLUDEDIR)/vex_net.h
	$(foreach b,$(INSTALL_BACKENDS),\
	  install -m 644 build/$(b)/libvex_net.a $(DESTDIR)$(LIBDIR)/libvex_net-$(b).a && \
	  install -m 755 build/$(b)/$(call SHLIB_REAL,$(b)) $(DESTDIR)$(LIBDIR)/ && \
	  ln -sf $(call SHLIB_REAL,$(b)) $(DESTDIR)$(LIBDIR)/$(call SHLIB_SONAME,$(b)) && \
	  ln -sf $(call SHLIB_SONAME,$(b)) $(DESTDIR)$(LIBDIR)/$(call SHLIB_DEV,$(b)) && \
	  sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	      -e 's|@BACKEND@|$(b)|g; s|@VERSION@|$(VERSION)|; s|@LIBS_PRIVATE@|$(call pc_private,$(b))|' \
	      dist/vex_net.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/vex_net-$(b).pc &&) true
	install -m 755 build/$(SERVER_BACKEND)/production_server $(DESTDIR)$(BINDIR)/production_server
	install -m 644 dist/production_server.1 $(DESTDIR)$(MANDIR)/man1/production_server.1
ifneq ($(SYSTEMDUNITDIR),)
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed 's|@BINDIR@|$(BINDIR)|' dist/systemd/production_server.service.in \
	  > $(DESTDIR)$(SYSTEMDUNITDIR)/production_server.service
endif

# Removes what install puts there, for every backend name (directories stay).
uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/vex_net.h $(DESTDIR)$(BINDIR)/production_server \
	  $(DESTDIR)$(MANDIR)/man1/production_server.1 \
	  $(if $(SYSTEMDUNITDIR),$(DESTDIR)$(SYSTEMDUNITDIR)/production_server.service) \
	  $(foreach b,$(ALL_BACKENDS),$(addprefix $(DESTDIR)$(LIBDIR)/,libvex_net-$(b).a \
	    $(call SHLIB_REAL,$(b)) $(call SHLIB_SONAME,$(b)) $(call SHLIB_DEV,$(b)) \
	    pkgconfig/vex_net-$(b).pc))

RUN ?= results/latest
plot:
	$(PY) scripts/plot.py $(RUN)

# Figures over the stored runs of several commits, in commit order (scripts/trend.py).
# make trend [RUNS="results"] [METRICS=cpu_us_per_req,rps,p99_ms] [CASES=..] [TARGETS=..] [TREND_OUT=..]
trend:
	$(PY) scripts/trend.py $(or $(RUNS),results) $(if $(METRICS),--metrics $(METRICS)) \
	  $(if $(CASES),--cases $(CASES)) $(if $(TARGETS),--targets $(TARGETS)) $(if $(TREND_OUT),--out $(TREND_OUT))

# `make gate` must exit as ci/gate.py does: 0 pass, 1 regression, 2 could not decide/run.
# A failed recipe always makes make exit 2, so the gate runs while this Makefile is read
# (see GATE_RC at the top) and the recipe only reports; exit 1 comes from make's own
# question mode (-q: "target not up to date"), the only way GNU make exits 1.
gate:
	@:

# libFuzzer targets (clang + libclang-rt-14-dev), ASan+UBSan; tests/fuzz/README.md.
#   fuzz_http_parser  the request head parser (and the llhttp differential build)
#   fuzz_chunked      the chunked body decoder: whole, in pieces, encode/decode
#   fuzz_conn         a whole connection: http1 + handlers over a fake transport
#   fuzz_config       the --config YAML file and its section parsers (no files)
#   fuzz_tls          the TLS transport's server side fed a client's bytes in packets
#   make fuzz          each target for FUZZ_SECONDS (default 30), one after another;
#                      new inputs into build/fuzz/new-<target>, crashes build/fuzz/<target>-*
#   make fuzz-replay   every target's corpus once, plus the llhttp build (seconds; make test)
#   make fuzz-llhttp   fuzz the differential target (node-llhttp) for FUZZ_SECONDS
#   make fuzz-<target> one target for FUZZ_SECONDS
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS := -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
               -D_GNU_SOURCE -Iinclude -Isrc
# Our targets are held to the project's warnings; llhttp's sources are not ours.
FUZZ_WFLAGS := -Wall -Wextra -Werror
LLHTTP_INC := /usr/share/include/llhttp
LLHTTP_SRC := /usr/share/llhttp/api.c /usr/share/llhttp/http.c /usr/share/llhttp/llhttp.c
FUZZ_TARGETS := fuzz_http_parser fuzz_chunked fuzz_conn fuzz_config fuzz_tls
# Each target's seed corpus (the parser's predates the others' naming).
FUZZ_CORPUS_fuzz_http_parser := tests/fuzz/corpus
FUZZ_CORPUS_fuzz_chunked := tests/fuzz/corpus_chunked
FUZZ_CORPUS_fuzz_conn := tests/fuzz/corpus_conn
FUZZ_CORPUS_fuzz_config := tests/fuzz/corpus_config
FUZZ_CORPUS_fuzz_tls := tests/fuzz/corpus_tls
FUZZ_CORPUS_fuzz_http_parser_llhttp := tests/fuzz/corpus
# The connection target: the http1 layer and the handlers, nothing of the
# server above them and no library (fake_tp.c is the transport).
FUZZ_CONN_SRC := $(addprefix src/server/,http1.c http1_out.c http1_body.c routes.c handlers.c \
                 response.c metrics.c static_files.c platform.c transport.c request_id.c \
                 limit_policy.c ratelimit.c proxy_proto.c realip.c connlimit.c cidr.c \
                 access.c access_config.c auth_basic.c compress.c accept_encoding.c)
# The configuration file target: the file and its section parsers, with the
# calls that open files wrapped (fuzz_config.c serves its input and a fixed
# certificate, key and password file; every other path fails to open).
FUZZ_CONFIG_SRC := $(addprefix src/server/,config.c config_file.c config_keys.c tls_context.c \
                   access_config.c auth_basic.c cidr.c ratelimit.c log_config.c compress.c \
                   accept_encoding.c platform.c)
FUZZ_CERT_WRAP := -Wl,--wrap=SSL_CTX_use_certificate_chain_file,--wrap=SSL_CTX_use_PrivateKey_file
FUZZ_CONFIG_WRAP := $(FUZZ_CERT_WRAP) -Wl,--wrap=fopen,--wrap=rl_zone_new
# The TLS target: transport_tls.c (included by fuzz_tls.c, white-box) and
# tls_context.c over fake_loop.c, with fuzz_cert.c's in-memory certificate;
# the http1 layer and handlers above it in its http1 mode (fuzz_tls_http1.h).
FUZZ_TLS_SRC := $(sort $(FUZZ_CONN_SRC) src/server/tls_context.c) $(HTTP_SRC)
# -timeout: an input that takes seconds is a hang to report, not to wait for.
FUZZ_RUN_FLAGS = -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
                 -artifact_prefix=build/fuzz/$(1)- -dict=tests/fuzz/$(2).dict

build/fuzz/fuzz_http_parser: tests/fuzz/fuzz_http_parser.c $(HTTP_SRC) $(wildcard src/http/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(FUZZ_WFLAGS) tests/fuzz/fuzz_http_parser.c $(HTTP_SRC) -o $@
build/fuzz/fuzz_http_parser_llhttp: tests/fuzz/fuzz_http_parser.c $(HTTP_SRC) $(wildcard src/http/*.h)
	@mkdir -p $(dir $@)
	@[ -f $(LLHTTP_INC)/llhttp.h ] || { echo "llhttp missing: apt-get install node-llhttp (make deps)" >&2; exit 1; }
	clang $(FUZZ_CFLAGS) -DVEX_FUZZ_LLHTTP -I$(LLHTTP_INC) tests/fuzz/fuzz_http_parser.c \
	  $(HTTP_SRC) $(LLHTTP_SRC) -o $@
build/fuzz/fuzz_chunked: tests/fuzz/fuzz_chunked.c $(HTTP_SRC) $(wildcard src/http/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(FUZZ_WFLAGS) tests/fuzz/fuzz_chunked.c $(HTTP_SRC) -o $@
build/fuzz/fuzz_conn: tests/fuzz/fuzz_conn.c tests/fuzz/fake_tp.c tests/fuzz/fake_tp.h $(FUZZ_CONN_SRC) \
                      $(HTTP_SRC) $(wildcard src/http/*.h src/server/*.h include/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(FUZZ_WFLAGS) tests/fuzz/fuzz_conn.c tests/fuzz/fake_tp.c $(FUZZ_CONN_SRC) $(HTTP_SRC) -o $@ \
	  -lcrypto -lcrypt -lz -lbrotlienc -lzstd
build/fuzz/fuzz_config: tests/fuzz/fuzz_config.c tests/fuzz/fuzz_cert.c $(FUZZ_CONFIG_SRC) \
                        $(wildcard tests/fuzz/*.h src/server/*.h include/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(FUZZ_WFLAGS) tests/fuzz/fuzz_config.c tests/fuzz/fuzz_cert.c $(FUZZ_CONFIG_SRC) -o $@ \
	  $(FUZZ_CONFIG_WRAP) -lyaml -lssl -lcrypto -lcrypt -lz -lbrotlienc -lzstd
build/fuzz/fuzz_tls: tests/fuzz/fuzz_tls.c tests/fuzz/fake_loop.c tests/fuzz/fuzz_cert.c tests/fuzz/fuzz_rand.c \
                     src/server/transport_tls.c $(FUZZ_TLS_SRC) \
                     $(wildcard tests/fuzz/*.h src/server/*.h include/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(FUZZ_WFLAGS) tests/fuzz/fuzz_tls.c tests/fuzz/fake_loop.c tests/fuzz/fuzz_cert.c tests/fuzz/fuzz_rand.c \
	  $(FUZZ_TLS_SRC) -o $@ $(FUZZ_CERT_WRAP) -lssl -lcrypto -lz -lbrotlienc -lzstd -lcrypt

# fuzz_tls's seeds past the handshake (post_hs*): recorded by the target itself
# (tests/fuzz/fuzz_tls_record.h), each replayed at once and checked to reach
# application data. Run again when the server's TLS settings change.
.PHONY: fuzz-tls-seeds
fuzz-tls-seeds: build/fuzz/fuzz_tls
	VEX_FUZZ_TLS_RECORD=$(FUZZ_CORPUS_fuzz_tls) ./build/fuzz/fuzz_tls

.PHONY: $(addprefix fuzz-,$(FUZZ_TARGETS:fuzz_%=%))
$(addprefix fuzz-,$(FUZZ_TARGETS:fuzz_%=%)): fuzz-%: build/fuzz/fuzz_%
	@mkdir -p build/fuzz/new-fuzz_$*
	./build/fuzz/fuzz_$* $(call FUZZ_RUN_FLAGS,fuzz_$*,fuzz_$*) build/fuzz/new-fuzz_$* $(FUZZ_CORPUS_fuzz_$*)
fuzz: $(addprefix build/fuzz/,$(FUZZ_TARGETS))
	@set -e; for t in $(FUZZ_TARGETS:fuzz_%=%); do \
	  $(MAKE) --no-print-directory fuzz-$$t FUZZ_SECONDS=$(FUZZ_SECONDS); done
fuzz-replay: $(addprefix build/fuzz/,$(FUZZ_TARGETS)) build/fuzz/fuzz_http_parser_llhttp
	@set -e; $(foreach t,$(FUZZ_TARGETS) fuzz_http_parser_llhttp,\
	  ./build/fuzz/$(t) -artifact_prefix=build/fuzz/$(t)- $(FUZZ_CORPUS_$(t))/* 2>build/fuzz/replay-$(t).log \
	    || { cat build/fuzz/replay-$(t).log; exit 1; }; \
	  echo "build/fuzz/$(t): $$(ls $(FUZZ_CORPUS_$(t)) | wc -l) corpus inputs replayed, no failure";)
	@VEX_FUZZ_TLS_EXPECT_APPDATA=1 ./build/fuzz/fuzz_tls $(FUZZ_CORPUS_fuzz_tls)/post_hs* \
	  2>build/fuzz/replay-fuzz_tls-post_hs.log || { cat build/fuzz/replay-fuzz_tls-post_hs.log; exit 1; }
	@echo "build/fuzz/fuzz_tls: $$(ls $(FUZZ_CORPUS_fuzz_tls)/post_hs* | wc -l) recorded connections replayed past the handshake"
fuzz-llhttp: build/fuzz/fuzz_http_parser_llhttp
	@mkdir -p build/fuzz/new-llhttp
	./build/fuzz/fuzz_http_parser_llhttp $(call FUZZ_RUN_FLAGS,fuzz_http_parser_llhttp,fuzz_http_parser) build/fuzz/new-llhttp tests/fuzz/corpus

clean:
	rm -rf build
