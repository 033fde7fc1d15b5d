# ferry: see README.md. `make help` lists the targets.
#
# Sources are picked up by wildcard: every .c under the library modules (and their arch/, one
# file per model architecture) goes into libferry.a,
# every cli/*.c into the ferry binary, every tests/unit/*.c into the Criterion test binary,
# every tests/fuzz/fuzz_*.c into a libFuzzer target.

CC      ?= cc
CLANG   ?= clang
BUILD   ?= build
PKGS    := jansson libcrypto libmicrohttpd libcurl libpcre2-8 libarchive libzstd
MODULES := core convert quant verify infer mirror

# Debian packages the build and tests need (never nodejs/npm: they come with the machine).
DEB_PACKAGES := gcc make pkg-config libcurl4-openssl-dev libssl-dev libarchive-dev libzstd-dev \
	libjansson-dev libmicrohttpd-dev libpcre2-dev libcriterion-dev clang libclang-rt-14-dev time git curl openssl nginx-light wrk apache2-utils aria2 \
	docker-registry skopeo \
	clang-format clang-tidy clang-tools cppcheck

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wformat=2 -Wvla
CSTD    := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I.
OPT     ?= -O2 -g
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS_ALL = $(CSTD) $(OPT) $(WARN) $(PKG_CFLAGS) $(CFLAGS)
LIBS       = $(PKG_LIBS) -lpthread -lm
# The quantizers must round exactly as llama.cpp's reference functions: no FMA contraction.
FILE_FLAGS  = $(if $(filter quant/% infer/qdot%,$<),-ffp-contract=off)
SAN        := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRC  := $(foreach m,$(MODULES),$(wildcard $(m)/*.c $(m)/arch/*.c))
CLI_SRC  := $(wildcard cli/*.c)
UNIT_SRC := $(wildcard tests/unit/*.c) tests/corpus/corpus.c
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
HEADERS  := $(foreach m,$(MODULES) cli tests/unit tests/corpus,$(wildcard $(m)/*.h)) cli/commands.def

LIB_OBJ      := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ      := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_OBJ     := $(UNIT_SRC:%.c=$(BUILD)/obj/%.o)
LIB_OBJ_SAN  := $(LIB_SRC:%.c=$(BUILD)/san/%.o)
CLI_OBJ_SAN  := $(CLI_SRC:%.c=$(BUILD)/san/%.o)
UNIT_OBJ_SAN := $(UNIT_SRC:%.c=$(BUILD)/san/%.o)
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

MKCORPUS   := $(BUILD)/mkcorpus
MKGGUF     := $(BUILD)/mkgguf
MKBIG      := $(BUILD)/mkbig
MKMODEL    := $(BUILD)/mkmodel
BUNDLE_FORGE := $(BUILD)/bundle-forge
INFER_SPEED := $(BUILD)/infer_speed
FERRY      := $(BUILD)/ferry
FERRY_SAN  := $(BUILD)/ferry-san
UNIT       := $(BUILD)/unit-tests
UNIT_SAN   := $(BUILD)/unit-tests-san

FUZZ_SECONDS ?= 10
FUZZ_JOBS    ?= 1

.PHONY: all build deps test test-unit test-san test-cli test-node test-fuzz test-crash crash faults \
	fuzz fuzz-build fuzz-merge \
	demo bench format lint clean help node-deps install

all: deps
	@$(MAKE) --no-print-directory build

build: $(FERRY)

help:
	@echo "ferry make targets:"
	@echo "  make demo      install dependencies, build, and run the demo on the bundled fixtures"
	@echo "  make test      install dependencies, build, run every test (unit, sanitizers, CLI,"
	@echo "                 node interop, fuzz smoke of $(FUZZ_SECONDS)s per target)"
	@echo "  make           install dependencies and build $(FERRY)"
	@echo "  make deps      apt-get the Debian packages that are missing (root), else print the command"
	@echo "  make bench     benchmarks (results as ratios, written to bench/results/)"
	@echo "  make fuzz      run every fuzz target for FUZZ_SECONDS each (default 10; e.g. FUZZ_SECONDS=3600)"
	@echo "  make fuzz-merge  fold what long fuzz runs found into the seeds (tests/fuzz/NAME/found/)"
	@echo "  make crash     SIGKILL add, bundle import, clone, install, checkout, convert, quant and"
	@echo "                 publish CRASH_RUNS times each (default 100) at random points; fsck"
	@echo "                 and re-run checked;"
	@echo "                 then each on a full disk (a tmpfs) at FULL_POINTS capacities (40)"
	@echo "  make faults    clone and install through every injected fault x 3 file sizes"
	@echo "  make lint      clang-format check, cppcheck, clang-tidy and scan-build over the sources"
	@echo "  make format    apply .clang-format to every source file"
	@echo "  make install   copy ferry to PREFIX/bin (PREFIX=/usr/local)"
	@echo "  make clean     remove $(BUILD)/"

deps:
	@sh scripts/deps.sh $(DEB_PACKAGES)

# --- objects ------------------------------------------------------------------------------

$(BUILD)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_ALL) $(FILE_FLAGS) -c $< -o $@

$(BUILD)/san/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  CC/SAN  $<"
	@$(CC) $(CFLAGS_ALL) $(FILE_FLAGS) -O1 $(SAN) -c $< -o $@

$(BUILD)/libferry.a: $(LIB_OBJ)
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $^

$(BUILD)/libferry-san.a: $(LIB_OBJ_SAN)
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $^

$(FERRY): $(CLI_OBJ) $(BUILD)/libferry.a
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $(CLI_OBJ) $(BUILD)/libferry.a $(LIBS)

$(FERRY_SAN): $(CLI_OBJ_SAN) $(BUILD)/libferry-san.a
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) $(SAN) -o $@ $(CLI_OBJ_SAN) $(BUILD)/libferry-san.a $(LIBS)

$(UNIT): $(UNIT_OBJ) $(BUILD)/libferry.a
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $(UNIT_OBJ) $(BUILD)/libferry.a -lcriterion $(LIBS)

$(UNIT_SAN): $(UNIT_OBJ_SAN) $(BUILD)/libferry-san.a
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) $(SAN) -o $@ $(UNIT_OBJ_SAN) $(BUILD)/libferry-san.a -lcriterion $(LIBS)

$(MKCORPUS): tests/corpus/mkcorpus.c tests/corpus/corpus.c $(BUILD)/libferry.a $(HEADERS)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ tests/corpus/mkcorpus.c tests/corpus/corpus.c \
		$(BUILD)/libferry.a $(LIBS)

$(MKGGUF): tests/node/mkgguf.c $(BUILD)/libferry.a $(HEADERS)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ tests/node/mkgguf.c $(BUILD)/libferry.a $(LIBS)

$(MKBIG): bench/mkbig.c $(BUILD)/libferry.a $(HEADERS)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ bench/mkbig.c $(BUILD)/libferry.a $(LIBS)

$(BUNDLE_FORGE): tests/cli/bundle_forge.c $(BUILD)/libferry.a $(HEADERS)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ tests/cli/bundle_forge.c $(BUILD)/libferry.a $(LIBS)

$(MKMODEL): bench/mkmodel.c $(BUILD)/libferry.a $(HEADERS)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ bench/mkmodel.c $(BUILD)/libferry.a $(LIBS)

$(INFER_SPEED): bench/infer_speed.c $(BUILD)/libferry.a $(HEADERS)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ bench/infer_speed.c $(BUILD)/libferry.a $(LIBS)

# libFuzzer targets: clang, the library sources compiled in with the fuzzer's instrumentation.
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(CLANG) $(CSTD) -O1 -g $(WARN) $(PKG_CFLAGS) -ffp-contract=off -fsanitize=fuzzer,address,undefined \
		-o $@ $< $(LIB_SRC) $(LIBS)

# --- tests --------------------------------------------------------------------------------

# Every suite appends "suite passed failed" to $(SUMMARY); the total closes the run.
SUMMARY := $(BUILD)/test-summary.txt

test: deps
	@mkdir -p $(BUILD) && : > $(SUMMARY)
	@$(MAKE) --no-print-directory test-unit test-san test-cli test-node test-crash test-fuzz
	@awk '{print "  " $$1 ": " $$2 " passed, " $$3 " failed"; p += $$2; f += $$3} \
		END {print "make test: all suites passed"; print "total: " p " passed, " f " failed"}' \
		$(SUMMARY)

test-unit: $(UNIT)
	@mkdir -p $(BUILD)
	@FERRY_TEST_DATA=tests/data $(UNIT) --jobs 2 > $(BUILD)/unit.log 2>&1; rc=$$?; \
		cat $(BUILD)/unit.log; sh tests/summary.sh unit $(BUILD)/unit.log >> $(SUMMARY); \
		exit $$rc

# The same unit tests under AddressSanitizer and UBSan. Criterion reports a test's result before
# its process exits, where LeakSanitizer speaks: any sanitizer report in the log fails the run.
test-san: $(UNIT_SAN)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		FERRY_TEST_DATA=tests/data $(UNIT_SAN) --jobs 2 > $(BUILD)/unit-san.log 2>&1; \
		rc=$$?; tail -n 1 $(BUILD)/unit-san.log; \
		sh tests/summary.sh unit-san $(BUILD)/unit-san.log >> $(SUMMARY); \
		if grep -q "Sanitizer" $(BUILD)/unit-san.log; then \
			grep -B2 -A20 "Sanitizer" $(BUILD)/unit-san.log | head -60; exit 1; fi; \
		exit $$rc

# Integration tests drive the real binaries (the sanitizer build included).
test-cli: $(FERRY) $(FERRY_SAN) $(MKCORPUS) $(MKMODEL) $(BUNDLE_FORGE) node-deps
	@mkdir -p $(BUILD)
	@FERRY=$(FERRY) FERRY_SAN=$(FERRY_SAN) MKCORPUS=$(MKCORPUS) sh tests/cli/run.sh \
		> $(BUILD)/cli.log 2>&1; rc=$$?; tail -n 20 $(BUILD)/cli.log; \
		sh tests/summary.sh cli $(BUILD)/cli.log >> $(SUMMARY); \
		FERRY=$(FERRY) FERRY_SAN=$(FERRY_SAN) sh tests/cli/store.sh \
		> $(BUILD)/store.log 2>&1; rc2=$$?; tail -n 20 $(BUILD)/store.log; \
		sh tests/summary.sh store $(BUILD)/store.log >> $(SUMMARY); \
		FERRY=$(FERRY) sh tests/cli/serve.sh > $(BUILD)/serve.log 2>&1; rc3=$$?; \
		tail -n 20 $(BUILD)/serve.log; \
		sh tests/summary.sh serve $(BUILD)/serve.log >> $(SUMMARY); \
		FERRY=$(FERRY_SAN) sh tests/cli/serve.sh > $(BUILD)/serve-san.log 2>&1; rc4=$$?; \
		tail -n 20 $(BUILD)/serve-san.log; \
		sh tests/summary.sh serve-san $(BUILD)/serve-san.log >> $(SUMMARY); \
		FERRY=$(FERRY_SAN) sh tests/cli/clone.sh > $(BUILD)/clone.log 2>&1; rc5=$$?; \
		tail -n 20 $(BUILD)/clone.log; \
		sh tests/summary.sh clone $(BUILD)/clone.log >> $(SUMMARY); \
		FERRY=$(FERRY) FERRY_SAN=$(FERRY_SAN) MKMODEL=$(MKMODEL) sh tests/cli/quant.sh \
		> $(BUILD)/quant.log 2>&1; rc6=$$?; tail -n 20 $(BUILD)/quant.log; \
		sh tests/summary.sh quant $(BUILD)/quant.log >> $(SUMMARY); \
		FERRY=$(FERRY) FERRY_SAN=$(FERRY_SAN) sh tests/cli/convert.sh \
		> $(BUILD)/convert.log 2>&1; rc7=$$?; tail -n 20 $(BUILD)/convert.log; \
		sh tests/summary.sh convert $(BUILD)/convert.log >> $(SUMMARY); \
		FERRY=$(FERRY) FERRY_SAN=$(FERRY_SAN) MKMODEL=$(MKMODEL) sh tests/cli/infer.sh \
		> $(BUILD)/infer.log 2>&1; rc8=$$?; tail -n 20 $(BUILD)/infer.log; \
		sh tests/summary.sh infer $(BUILD)/infer.log >> $(SUMMARY); \
		FERRY=$(FERRY_SAN) sh tests/cli/publish.sh > $(BUILD)/publish.log 2>&1; rc9=$$?; \
		tail -n 20 $(BUILD)/publish.log; \
		sh tests/summary.sh publish $(BUILD)/publish.log >> $(SUMMARY); \
		FERRY=$(FERRY_SAN) FORGE=$(BUNDLE_FORGE) sh tests/cli/bundle.sh \
		> $(BUILD)/bundle.log 2>&1; rc10=$$?; tail -n 20 $(BUILD)/bundle.log; \
		sh tests/summary.sh bundle $(BUILD)/bundle.log >> $(SUMMARY); \
		FERRY=$(FERRY) sh tests/cli/load.sh > $(BUILD)/load.log 2>&1; rc11=$$?; \
		tail -n 8 $(BUILD)/load.log; sh tests/summary.sh load $(BUILD)/load.log >> $(SUMMARY); \
		FAULT_SIZES=medium FERRY=$(FERRY) sh tests/cli/faults.sh > $(BUILD)/faults.log 2>&1; \
		rc12=$$?; tail -n 8 $(BUILD)/faults.log; \
		sh tests/summary.sh faults $(BUILD)/faults.log >> $(SUMMARY); \
		FERRY=$(FERRY) FERRY_SAN=$(FERRY_SAN) sh tests/cli/moe.sh > $(BUILD)/moe.log 2>&1; \
		rc13=$$?; tail -n 8 $(BUILD)/moe.log; \
		sh tests/summary.sh moe $(BUILD)/moe.log >> $(SUMMARY); \
		FERRY=$(FERRY) FERRY_SAN=$(FERRY_SAN) sh tests/cli/flagships.sh > $(BUILD)/flagships.log 2>&1; \
		rc14=$$?; tail -n 8 $(BUILD)/flagships.log; \
		sh tests/summary.sh flagships $(BUILD)/flagships.log >> $(SUMMARY); \
		FERRY=$(FERRY_SAN) sh tests/cli/oci.sh > $(BUILD)/oci.log 2>&1; \
		rc15=$$?; tail -n 8 $(BUILD)/oci.log; \
		sh tests/summary.sh oci $(BUILD)/oci.log >> $(SUMMARY); \
		[ $$rc15 -eq 0 ] && [ $$rc14 -eq 0 ] && [ $$rc13 -eq 0 ] && [ $$rc -eq 0 ] && [ $$rc2 -eq 0 ] && [ $$rc3 -eq 0 ] && [ $$rc4 -eq 0 ] && \
		[ $$rc5 -eq 0 ] && [ $$rc6 -eq 0 ] && [ $$rc7 -eq 0 ] && \
		[ $$rc8 -eq 0 ] && [ $$rc9 -eq 0 ] && [ $$rc10 -eq 0 ] && [ $$rc11 -eq 0 ] && \
		[ $$rc12 -eq 0 ]

node-deps: tests/node/node_modules/.package-lock.json

tests/node/node_modules/.package-lock.json: tests/node/package.json tests/node/package-lock.json
	@echo "  NPM     tests/node (npm ci, pinned by package-lock.json)"
	@cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

test-node: $(FERRY) $(MKGGUF) $(MKMODEL) node-deps
	@FERRY=$(FERRY) MKGGUF=$(MKGGUF) MKMODEL=$(MKMODEL) sh tests/node/run.sh > $(BUILD)/node.log 2>&1; rc=$$?; \
		cat $(BUILD)/node.log; sh tests/summary.sh node $(BUILD)/node.log >> $(SUMMARY); \
		exit $$rc

# Crash consistency (tests/crash/run.sh): SIGKILL at random points of add, bundle import, clone,
# install, checkout, convert, quant and publish; fsck clean after each, the re-run reaching the uninterrupted state.
# make test kills each CRASH_TEST_RUNS times; make crash CRASH_RUNS (100) times and records the
# figures in bench/results/crash.txt. The same operations on a full disk (tests/crash/diskfull.sh:
# the store on a tmpfs too small to finish) at FULL_TEST_POINTS / FULL_POINTS capacities each;
# make test runs it with the sanitizer build, since error paths are where leaks hide.
CRASH_TEST_RUNS ?= 3
CRASH_RUNS ?= 100
FULL_TEST_POINTS ?= 4
FULL_POINTS ?= 40

test-crash: $(FERRY) $(FERRY_SAN)
	@CRASH_RUNS=$(CRASH_TEST_RUNS) FERRY=$(FERRY) sh tests/crash/run.sh > $(BUILD)/crash.log 2>&1; \
		rc=$$?; tail -n 8 $(BUILD)/crash.log; \
		sh tests/summary.sh crash $(BUILD)/crash.log >> $(SUMMARY); \
		FULL_POINTS=$(FULL_TEST_POINTS) FERRY=$(FERRY_SAN) sh tests/crash/diskfull.sh \
		> $(BUILD)/diskfull.log 2>&1; rc2=$$?; tail -n 8 $(BUILD)/diskfull.log; \
		sh tests/summary.sh diskfull $(BUILD)/diskfull.log >> $(SUMMARY); \
		[ $$rc -eq 0 ] && [ $$rc2 -eq 0 ]

crash: $(FERRY)
	@mkdir -p bench/results
	@CRASH_RUNS=$(CRASH_RUNS) CRASH_OUT=bench/results/crash.txt FERRY=$(FERRY) sh tests/crash/run.sh
	@FULL_POINTS=$(FULL_POINTS) CRASH_OUT=bench/results/crash.txt FERRY=$(FERRY) \
		sh tests/crash/diskfull.sh

# The whole fault matrix (tests/cli/faults.sh): clone and install through every fault of
# tests/node/faultproxy.mjs, once and on every request, for three file size classes.
faults: $(FERRY) node-deps
	@FERRY=$(FERRY) sh tests/cli/faults.sh

fuzz-build: $(FUZZ_BIN)

# Each target over its seed corpus plus FUZZ_SECONDS of new inputs (a copy of the corpus is
# grown under build/, so the committed seeds stay as they are).
test-fuzz fuzz: $(FUZZ_BIN)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) sh tests/fuzz/run.sh $(FUZZ_BIN) \
		> $(BUILD)/fuzz.log 2>&1; rc=$$?; cat $(BUILD)/fuzz.log; \
		sh tests/summary.sh fuzz $(BUILD)/fuzz.log >> $(SUMMARY); exit $$rc

# What long runs found, minimized, into the committed seeds (tests/fuzz/<name>/found/).
fuzz-merge: $(FUZZ_BIN)
	@sh tests/fuzz/merge.sh $(FUZZ_BIN)

# --- the rest -----------------------------------------------------------------------------

demo: deps
	@$(MAKE) --no-print-directory build
	@sh scripts/demo.sh $(FERRY)

bench: deps
	@$(MAKE) --no-print-directory build $(MKBIG) $(MKMODEL) $(INFER_SPEED)
	@MKBIG=$(MKBIG) sh bench/run.sh $(FERRY)
	@sh bench/store.sh $(FERRY)
	@MKMODEL=$(MKMODEL) sh bench/bundle.sh $(FERRY)
	@sh bench/serve.sh $(FERRY)
	@sh bench/clone.sh $(FERRY)
	@sh bench/oci.sh $(FERRY)
	@MKMODEL=$(MKMODEL) sh bench/convert.sh $(FERRY)
	@MKMODEL=$(MKMODEL) sh bench/quant.sh $(FERRY)
	@MKMODEL=$(MKMODEL) sh bench/quant_llama.sh $(FERRY)
	@MKMODEL=$(MKMODEL) INFER_SPEED=$(INFER_SPEED) sh bench/infer.sh $(FERRY)
	@MKMODEL=$(MKMODEL) INFER_SPEED=$(INFER_SPEED) sh bench/infer_llama.sh $(FERRY)
	@MKMODEL=$(MKMODEL) INFER_SPEED=$(INFER_SPEED) sh bench/moe.sh $(FERRY)

lint:
	clang-format --dry-run --Werror $(LIB_SRC) $(CLI_SRC) $(UNIT_SRC) $(FUZZ_SRC) $(filter %.h,$(HEADERS))
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --std=c11 \
		--inline-suppr -I. $(foreach m,$(MODULES) cli,$(m))
	@echo "  TIDY    clang-tidy (.clang-tidy) over the library and the CLI"
	@printf '%s\n' $(LIB_SRC) $(CLI_SRC) | xargs -P "$$(nproc)" -n 6 sh -c \
		'clang-tidy -quiet "$$@" -- $(CSTD) $(PKG_CFLAGS) 2>/dev/null' _
	@echo "  SCAN    scan-build (the clang static analyzer over a build of ferry, $(BUILD)/scan)"
	@rm -rf $(BUILD)/scan && scan-build --status-bugs -o $(BUILD)/scan/reports --use-cc=clang \
		$(MAKE) --no-print-directory -j"$$(nproc)" BUILD=$(BUILD)/scan $(BUILD)/scan/ferry >/dev/null

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(UNIT_SRC) $(FUZZ_SRC) $(filter %.h,$(HEADERS))

PREFIX ?= /usr/local
install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(FERRY) $(DESTDIR)$(PREFIX)/bin/ferry

clean:
	rm -rf $(BUILD)
