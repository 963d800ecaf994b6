# vex_net — build, test and benchmark every backend this OS supports.
#   make                      every available backend into build/<backend>/
#   make BACKEND=io_uring     one backend
#   make SANITIZE=1           ASan+UBSan build into build/<backend>-san/
#   make DEBUG=1              -O0 -g3 build into build/<backend>-debug/
#   make test                 deps, then every test on every available backend
#   make bench [BACKEND=..] [PROFILE=..] [DURATION=..] [TRIALS=..] [CONNECTIONS=..] [PEERS=..] [OUT=..] [INVENTORY=hosts.toml]
#   make plot [RUN=results/latest]   make trend [RUNS=results] [METRICS=..]   make gate [BASE=ref] [GATE_ARGS=..]   make deps   make clean
.DEFAULT_GOAL := all
SHELL := /bin/bash
# Debian's python3 has matplotlib/scipy/pytest; elsewhere use the one on PATH.
PY ?= $(if $(wildcard /usr/bin/python3),/usr/bin/python3,$(shell command -v python3))

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
OPT ?= -O2
CFLAGS_BASE := -std=c11 $(OPT) -g -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) \
               -D_GNU_SOURCE -Iinclude -Isrc -MMD -MP $(CFLAGS_BASE_EXTRA)
ifeq ($(DEBUG),1)   # no optimisation, full debug info: build/<backend>-debug/
  OPT := -O0 -g3
  SUFFIX := -debug
endif
ifeq ($(SANITIZE),1)
  SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  SUFFIX := $(SUFFIX)-san
endif
# BENCH_SLOWDOWN=N adds N units of fixed work per request (gate validation only).
ifneq ($(BENCH_SLOWDOWN),)
  EXTRA_DEFS += -DVEX_BENCH_SLOWDOWN=$(BENCH_SLOWDOWN)
  SUFFIX := $(SUFFIX)-slow$(BENCH_SLOWDOWN)
endif
# KQSHIM=1 (Linux, BACKEND=kqueue only): build kqueue.c against our test
# stand-in tests/kqshim/sys/event.h and link the poll(2)-based emulation
# tests/kqshim/kqshim.c into the library, into build/kqueue-kqshim[-san]/.
# It checks kqueue.c's bookkeeping, not real BSD kernel behaviour.
ifeq ($(KQSHIM),1)
  ifneq ($(UNAME)/$(BACKEND),Linux/kqueue)
    $(error KQSHIM=1 needs Linux and BACKEND=kqueue)
  endif
  SUFFIX := -kqshim$(SUFFIX)
  KQSHIM_INC := -Itests/kqshim
  KQSHIM_SRC := tests/kqshim/kqshim.c
endif
CFLAGS_ALL = $(CFLAGS_BASE) $(KQSHIM_INC) $(SAN_FLAGS) $(EXTRA_DEFS) $(CFLAGS)
LDFLAGS_ALL = $(SAN_FLAGS) $(LDFLAGS)
LIBS := -lpthread

CORE_SRC := src/loop.c src/timer.c src/buf.c src/sockopt.c
READINESS_SRC := src/backends/readiness.c src/backends/sendfile.c
BACKEND_SRC_epoll    := $(READINESS_SRC) src/backends/epoll.c
BACKEND_SRC_kqueue   := $(READINESS_SRC) src/backends/kqueue.c
BACKEND_SRC_poll     := $(READINESS_SRC) src/backends/poll.c
BACKEND_SRC_io_uring := src/backends/io_uring.c
BACKEND_LIBS_io_uring := -luring

HTTP_SRC   := $(wildcard src/http/*.c)
SERVER_SRC := $(wildcard src/server/*.c)

ifdef BACKEND
# ---------------------------------------------------------------- one backend
ifeq ($(filter $(BACKEND),$(ALL_BACKENDS)),)
  $(error unknown BACKEND '$(BACKEND)'; choose one of: $(ALL_BACKENDS))
endif
B := build/$(BACKEND)$(SUFFIX)
LIB := $(B)/libvex_net.a
LIB_SRC := $(CORE_SRC) $(BACKEND_SRC_$(BACKEND)) $(KQSHIM_SRC)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
HTTP_OBJ := $(HTTP_SRC:%.c=$(B)/obj/%.o)
SERVER_OBJ := $(SERVER_SRC:%.c=$(B)/obj/%.o)
ALL_LIBS := $(BACKEND_LIBS_$(BACKEND)) $(LIBS)

PROGRAMS := $(B)/vex_probe $(B)/test_conformance $(B)/echo_bench $(B)/vex_loadgen
ifneq ($(SERVER_SRC),)
  PROGRAMS += $(B)/production_server
endif
ifneq ($(HTTP_SRC),)
  PROGRAMS += $(B)/test_http_parser
endif
ifeq ($(KQSHIM),1)
  PROGRAMS += $(B)/test_kqueue_poller
endif

.PHONY: all backend
all backend: $(LIB) $(PROGRAMS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DVEX_BACKEND_$(BACKEND) -c $< -o $@

$(LIB): $(LIB_OBJ)
	$(AR) rcs $@ $^

$(B)/test_conformance: $(wildcard tests/conformance/*.c) $(LIB)
	$(CC) $(CFLAGS_ALL) $(filter %.c,$^) $(LIB) -o $@ $(LDFLAGS_ALL) -lcmocka $(ALL_LIBS)

$(B)/test_http_parser: tests/unit/test_http_parser.c $(HTTP_OBJ)
	$(CC) $(CFLAGS_ALL) $(filter %.c %.o,$^) -o $@ $(LDFLAGS_ALL) -lcmocka

# kqueue.c alone, with a stub readiness_event(), against the emulation.
$(B)/test_kqueue_poller: tests/kqshim/kq_unit.c $(B)/obj/src/backends/kqueue.o $(B)/obj/tests/kqshim/kqshim.o
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
	$(CC) $^ -o $@ $(LDFLAGS_ALL) $(ALL_LIBS)

-include $(shell find $(B) -name '*.d' 2>/dev/null)

else
# ------------------------------------------------------- every backend here
.PHONY: all
all:
	@set -e; for b in $(AVAILABLE); do $(MAKE) --no-print-directory BACKEND=$$b; done
endif

.PHONY: deps test test-c test-san test-python test-kqshim bench plot trend gate clean fuzz
deps:
	@./scripts/deps.sh

TEST_BACKENDS := $(if $(BACKEND),$(BACKEND),$(AVAILABLE))
test: deps
	@./scripts/run_tests.sh $(TEST_BACKENDS)

bench: deps
	@set -e; for b in $(if $(BACKEND),$(BACKEND),$(AVAILABLE)); do $(MAKE) --no-print-directory BACKEND=$$b; done
	$(PY) scripts/bench.py $(if $(BACKEND),--backend $(BACKEND)) $(if $(PROFILE),--profile $(PROFILE)) \
	  $(if $(DURATION),--duration $(DURATION)) $(if $(TRIALS),--trials $(TRIALS)) \
	  $(if $(CONNECTIONS),--connections $(CONNECTIONS)) $(if $(PEERS),--peers $(PEERS)) $(if $(OUT),--out $(OUT)) \
	  $(if $(INVENTORY),--inventory $(INVENTORY))

# kqueue.c on Linux through tests/kqshim (plain and ASan+UBSan).
test-kqshim:
	@set -e; for s in 0 1; do $(MAKE) --no-print-directory BACKEND=kqueue KQSHIM=1 SANITIZE=$$s; done
	@set -e; for d in build/kqueue-kqshim build/kqueue-kqshim-san; do \
	  $$d/test_kqueue_poller; $$d/test_conformance; done

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

# libFuzzer on the HTTP parser (clang + libclang-rt-14-dev); FUZZ_SECONDS=60.
FUZZ_SECONDS ?= 60
fuzz:
	@mkdir -p build/fuzz/new
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc \
	  tests/fuzz/fuzz_http_parser.c $(HTTP_SRC) -o build/fuzz/fuzz_http_parser
	./build/fuzz/fuzz_http_parser -max_total_time=$(FUZZ_SECONDS) build/fuzz/new tests/fuzz/corpus

clean:
	rm -rf build
