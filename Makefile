# Cairn: one Makefile. pkg-config for every library; objects under build/;
# a core static library (build/libcairn.a) that cairnd, cairn and the tests
# link. Warnings are errors in our code (not in llhttp's sources, which come
# from Debian's node-llhttp package and are compiled here, never copied).
#
#   make          build cairnd and cairn (installs missing packages as root)
#   make run      build and start cairnd on etc/cairnd.yaml
#   make demo     a season in miniature (500 students) against a fresh
#                 cairnd and mock institutions; make demo-run: cairnd on
#                 the database it leaves
#   make test     build and run every test (make e2e: only the web
#                 console's, in headless Chromium)
#   make check    the tests under AddressSanitizer and UndefinedBehaviorSanitizer
#   make bench    every benchmark, reduced where big, into bench/results.md
#                 (make bench-curves: the scaling curves; make bench-scale:
#                 a million stored cases; make bench-isir: ISIR import)
#   make install  PREFIX=/usr/local DESTDIR=
#   make fuzz     each fuzz target for FUZZ_SECONDS (60) with libFuzzer
#                 (make fuzz-replay: the corpora once each, part of make test)
#   make clean | make deps | make format

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
SAN     ?=
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)

LIBS_PC = libuv sqlite3 lua5.4 yaml-0.1 libcurl jansson libcrypto
LLHTTP_SRC = /usr/share/llhttp
LLHTTP_INC = /usr/share/include/llhttp

CC      ?= cc
OPT     ?= -O2 -g
WARN    = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
          -Wmissing-prototypes -Wno-unused-parameter
VERSION = 0.1.0
CFLAGS_BASE = -std=gnu11 $(OPT) -D_GNU_SOURCE -DCAIRN_VERSION='"$(VERSION)"' -fno-strict-aliasing $(SAN)
PC_CFLAGS = $(shell pkg-config --cflags $(LIBS_PC))
# Lua from the static archive of the same Debian package (liblua5.4-dev):
# rules make a C API call for every value they record, and without the
# shared library's PLT and position-independent code an evaluation runs
# about 8% faster.
LUA_A     = $(shell pkg-config --variable=libdir lua5.4)/liblua5.4.a
PC_LIBS   = $(shell pkg-config --libs $(filter-out lua5.4,$(LIBS_PC))) \
            $(LUA_A) -ldl
CRIT_CFLAGS = $(shell pkg-config --cflags criterion)
CRIT_LIBS   = $(shell pkg-config --libs criterion)
CFLAGS_ALL = $(CFLAGS_BASE) $(WARN) -I. -I$(LLHTTP_INC) $(PC_CFLAGS)
LDLIBS_ALL = $(PC_LIBS) -lpthread -lm

CORE_SRC = $(wildcard common/*.c) \
           $(filter-out daemon/main.c,$(wildcard daemon/*.c)) \
           $(wildcard store/*.c) $(wildcard workflows/*.c) \
           $(wildcard rules/*.c) $(wildcard adapters/*.c)
# the web console (web/), embedded into cairnd by scripts/embed-web.sh as
# generated C under build/ (never committed): one binary serves it
WEB_FILES = $(sort $(wildcard web/*.*))
WEB_OBJ   = $(BUILD)/gen/web_assets.o
CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/%.o) $(WEB_OBJ)
LLHTTP_OBJ = $(BUILD)/llhttp/llhttp.o $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o
CLI_SRC = $(wildcard cli/*.c)
CLI_OBJ = $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC = $(wildcard tests/test_*.c) $(filter-out tests/test_%,$(wildcard tests/*.c))
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_SRC = $(wildcard bench/*.c)
BENCH_BIN = $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps binaries run demo demo-run test check bench bench-scale bench-rules \
        bench-isir bench-claims bench-audit install clean format fuzz \
        fuzz-bins fuzz-replay e2e

all: deps
	@$(MAKE) --no-print-directory -j$(JOBS) binaries

deps:
	@sh scripts/deps.sh

binaries: $(BUILD)/cairnd $(BUILD)/cairn $(BUILD)/cairn-mock-institution

$(BUILD)/libcairn.a: $(CORE_OBJ) $(LLHTTP_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/cairnd: $(BUILD)/daemon/main.o $(BUILD)/libcairn.a
	$(CC) $(CFLAGS_BASE) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/cairn: $(CLI_OBJ) $(BUILD)/libcairn.a
	$(CC) $(CFLAGS_BASE) -o $@ $^ $(LDLIBS_ALL)

# the stand-in institution the adapter tests, benchmarks and demo talk to
$(BUILD)/cairn-mock-institution: $(BUILD)/tests/mock/institution.o $(BUILD)/libcairn.a
	$(CC) $(CFLAGS_BASE) -o $@ $^ $(LDLIBS_ALL)

# the demo season's driver (make demo; tests/test_demo.c runs a small one)
$(BUILD)/cairn-demo: $(BUILD)/tools/demo.o $(BUILD)/libcairn.a
	$(CC) $(CFLAGS_BASE) -o $@ $^ $(LDLIBS_ALL) -lpthread

$(BUILD)/tools/%.o: tools/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -DCAIRN_BUILD_DIR='"$(abspath $(BUILD))"' \
	      -DCAIRN_SOURCE_DIR='"$(CURDIR)"' -MMD -MP -c -o $@ $<

# the crash-consistency loop's driver (tests/crash/run N runs it)
$(BUILD)/cairn-crash: $(BUILD)/tests/crash/crash.o $(BUILD)/libcairn.a
	$(CC) $(CFLAGS_BASE) -o $@ $^ $(LDLIBS_ALL) -lpthread

$(BUILD)/tests/unit: $(TEST_OBJ) $(BUILD)/libcairn.a
	$(CC) $(CFLAGS_BASE) -o $@ $^ $(CRIT_LIBS) $(LDLIBS_ALL)

$(BUILD)/bench/%: bench/%.c bench/benchlib.h $(BUILD)/libcairn.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -o $@ $(filter-out %.h,$^) $(LDLIBS_ALL)

$(BUILD)/gen/web_assets.c: $(WEB_FILES) scripts/embed-web.sh
	sh scripts/embed-web.sh $@ $(WEB_FILES)

$(BUILD)/gen/web_assets.o: $(BUILD)/gen/web_assets.c daemon/web.h
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(CRIT_CFLAGS) -DCAIRN_BUILD_DIR='"$(abspath $(BUILD))"' \
	      -DCAIRN_SOURCE_DIR='"$(CURDIR)"' -MMD -MP -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(BUILD)/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -w -I$(LLHTTP_INC) -c -o $@ $<

# a season in miniature against a fresh cairnd and the mock institutions
# (build/demo/); then make demo-run starts cairnd on what it left
demo: deps
	@$(MAKE) --no-print-directory -j$(JOBS) binaries $(BUILD)/cairn-demo
	$(BUILD)/cairn-demo --dir $(abspath $(BUILD))/demo $(DEMO_ARGS)

demo-run:
	@test -f $(BUILD)/demo/cairnd.yaml || { echo "no demo database: run make demo first"; exit 1; }
	. $(BUILD)/demo/env && exec $(BUILD)/cairnd -c $(BUILD)/demo/cairnd.yaml

run: deps
	@$(MAKE) --no-print-directory -j$(JOBS) binaries
	exec $(BUILD)/cairnd -c etc/cairnd.yaml

test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) binaries $(BUILD)/tests/unit \
	    $(BUILD)/cairn-crash $(BUILD)/cairn-demo
	CAIRN_BUILD_DIR=$(abspath $(BUILD)) $(BUILD)/tests/unit --jobs $(JOBS) $(TEST_ARGS)
	@$(MAKE) --no-print-directory fuzz-replay
	@$(MAKE) --no-print-directory e2e

# The web console end to end in headless Chromium (tests/e2e, Node's test
# runner and playwright-core) on a demo season (cairn-demo --url): after
# the Criterion suite. Installs Debian's
# chromium, nodejs and npm (scripts/deps.sh e2e) and the locked
# playwright-core (npm ci) when missing. Screenshots: $(BUILD)/e2e-artifacts.
e2e: deps
	@sh scripts/deps.sh e2e
	@$(MAKE) --no-print-directory -j$(JOBS) binaries $(BUILD)/cairn-demo
	@cd tests/e2e && { [ node_modules/.package-lock.json -nt package-lock.json ] || \
	    npm ci --no-audit --no-fund --loglevel=error; }
	cd tests/e2e && CAIRN_BUILD_DIR=$(abspath $(BUILD)) \
	    node --test --test-concurrency=1 console.test.mjs

check: deps
	@LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	    $(MAKE) --no-print-directory BUILD=build-san OPT='-O1 -g -fno-omit-frame-pointer' \
	    SAN='-fsanitize=address,undefined -fno-sanitize-recover=undefined' test

bench: deps
	@$(MAKE) --no-print-directory -j$(JOBS) binaries $(BENCH_BIN)
	sh bench/run.sh $(abspath $(BUILD))

# throughput and p99 by concurrent clients and by cases stored (up to
# 10,000,000: 10 to 16 minutes, 14 GB of temporary disk at the peak);
# bench/curves.md and bench/curves.svg
.PHONY: bench-curves
bench-curves: deps
	@$(MAKE) --no-print-directory -j$(JOBS) binaries $(BENCH_BIN)
	sh bench/curves.sh $(abspath $(BUILD))

# 1,000,000 cases, 100,000 timers: reads, listings, restart, timer lag
bench-scale: deps
	@$(MAKE) --no-print-directory -j$(JOBS) binaries $(BUILD)/bench/scale
	sh bench/scale.sh $(abspath $(BUILD))

bench-rules: deps
	@$(MAKE) --no-print-directory -j$(JOBS) binaries $(BUILD)/bench/scale
	sh bench/rules-host.sh $(abspath $(BUILD))

# cairn audit verify over 1,000,000 cases' hash chains
bench-audit: deps
	@$(MAKE) --no-print-directory -j$(JOBS) binaries $(BUILD)/bench/scale
	sh bench/audit.sh $(abspath $(BUILD))

# ISIR import: FSA's 78-record test file and 100,000 generated records
bench-isir: deps
	@$(MAKE) --no-print-directory -j$(JOBS) binaries
	sh bench/isir.sh $(abspath $(BUILD))

# 1,000,000 queued files, 32 officers claiming: claims/s and p99
bench-claims: deps
	@$(MAKE) --no-print-directory -j$(JOBS) binaries $(BUILD)/bench/claims
	sh bench/claims.sh $(abspath $(BUILD))

# Fuzzing (fuzz/): `make fuzz` builds each target with clang's libFuzzer
# under ASan and UBSan in build-fuzz/ and runs it for FUZZ_SECONDS from its
# corpus in fuzz/corpus/<target>/; `make fuzz-replay` (part of make test)
# runs every corpus file once through the same entry points, built with
# the suite's compiler and sanitizers and no libFuzzer.
FUZZ_TARGETS = http json workflow isir rules adapter
FUZZ_SECONDS ?= 60
FUZZ_SAN = -fsanitize=fuzzer-no-link,address,undefined \
           -fno-sanitize-recover=undefined
FUZZ_COMMON = fuzz/common.c fuzz/fuzz.h

fuzz: deps
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build-fuzz CC=clang \
	    OPT='-O1 -g -fno-omit-frame-pointer' SAN='$(FUZZ_SAN)' fuzz-bins
	sh fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%: fuzz/%.c $(FUZZ_COMMON) $(BUILD)/libcairn.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -fsanitize=fuzzer -o $@ $< fuzz/common.c \
	      $(BUILD)/libcairn.a $(LDLIBS_ALL)

$(BUILD)/fuzz-replay/%: fuzz/%.c fuzz/replay.c $(FUZZ_COMMON) $(BUILD)/libcairn.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -o $@ $< fuzz/replay.c fuzz/common.c \
	      $(BUILD)/libcairn.a $(LDLIBS_ALL)

fuzz-replay: $(FUZZ_TARGETS:%=$(BUILD)/fuzz-replay/%)
	@for t in $(FUZZ_TARGETS); do \
	    $(BUILD)/fuzz-replay/$$t fuzz/corpus/$$t || exit 1; done

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/cairn/examples \
	    $(DESTDIR)$(PREFIX)/share/doc/cairn $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0755 $(BUILD)/cairnd $(BUILD)/cairn $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 man/cairn.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 man/cairnd.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 docs/openapi.yaml $(DESTDIR)$(PREFIX)/share/doc/cairn/
	cp -R examples/. $(DESTDIR)$(PREFIX)/share/cairn/examples/
	install -m 0644 etc/cairnd.yaml $(DESTDIR)$(PREFIX)/share/cairn/cairnd.yaml.example
	install -m 0644 etc/cairnd.service $(DESTDIR)$(PREFIX)/share/cairn/cairnd.service
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/cairn/

clean:
	rm -rf build build-san build-fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

-include $(wildcard $(BUILD)/*/*.d $(BUILD)/*/*/*.d $(BUILD)/*/*/*/*.d)
