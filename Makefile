# dmvgate - GNU Make build.  `make` builds ./dmvgate; `make test` runs every
# test; `make demo` sets up sample data and serves it.  See README.md.
#
# SANITIZE=address,undefined builds into build/san with those sanitizers.
# Objects live in build/<variant>; ./dmvgate is a copy of the last build.

.SUFFIXES:
SHELL     := /bin/sh
CC        ?= cc
PYTHON    := /usr/bin/python3
FUZZ_SECONDS ?= 300

DEPS_OK   := build/.deps-ok
PKGS      := sqlite3 libmicrohttpd nettle hogweed jansson gnutls
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 \
	-Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
	-Wmissing-declarations -Wwrite-strings -Wundef -Wcast-align \
	-Wvla -Wfloat-conversion -Wnull-dereference -Wimplicit-fallthrough \
	-Wold-style-definition -Wredundant-decls -Wswitch-enum -Wno-switch-enum
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -pthread $(WARN) -fno-strict-aliasing \
	-fstack-protector-strong -D_FORTIFY_SOURCE=2 -Isrc $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -pthread -lm

ifneq ($(SANITIZE),)
  VARIANT := san
  CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all -U_FORTIFY_SOURCE
  LDFLAGS += -fsanitize=$(SANITIZE)
else
  VARIANT := rel
endif
B := build/$(VARIANT)

SRCS     := $(sort $(wildcard src/*.c))
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
OBJS     := $(SRCS:src/%.c=$(B)/%.o)
LIB_OBJS := $(LIB_SRCS:src/%.c=$(B)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)

.PHONY: all deps test unit e2e soak fuzz-replay fuzz bench bench-import demo clean bench-policy
all: dmvgate

$(DEPS_OK): scripts/deps.sh
	@mkdir -p build
	@scripts/deps.sh
	@touch $@

deps: $(DEPS_OK)

# Quiet by default; `make V=1` shows the full command lines.
ifeq ($(V),1)
  Q :=
else
  Q := @
endif

$(B)/%.o: src/%.c | $(DEPS_OK)
	@mkdir -p $(B)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libdmvgate.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(B)/dmvgate: $(B)/main.o $(B)/libdmvgate.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ./dmvgate is a copy of the variant just built: phony, so that a release
# build replaces a sanitized copy that happens to be newer (and vice versa).
.PHONY: dmvgate
dmvgate: $(B)/dmvgate
	@cmp -s $< $@ || { cp $< $@.tmp && mv -f $@.tmp $@; }

# Unit tests: one cmocka program per tests/unit/test_*.c, linked with every
# module but main.c.
$(B)/test_%: tests/unit/test_%.c $(B)/libdmvgate.a tests/unit/testutil.h
	$(CC) $(CFLAGS) -Wno-missing-prototypes -Wno-missing-declarations -Itests/unit \
		$$(pkg-config --cflags cmocka) $(LDFLAGS) -o $@ $< $(B)/libdmvgate.a \
		$$(pkg-config --libs cmocka) $(LDLIBS)

unit: $(UNIT_BINS)
	@fail=0; pass=0; \
	for t in $(UNIT_BINS); do \
		if DMVGATE_SRCDIR=$(CURDIR) $$t; then pass=$$((pass+1)); \
		else echo "FAILED: $$t"; fail=$$((fail+1)); fi; \
	done; \
	echo "unit: $$pass passed, $$fail failed"; test $$fail -eq 0

# The end-to-end tests run the binary of this build's variant ($(B)/dmvgate:
# sanitized under SANITIZE=...), with policy/ linked beside it so that the
# default policy is found as it is next to ./dmvgate.  Under ASan,
# LeakSanitizer runs at every exit of every dmvgate process (CLI and serve):
# a leak fails the command, and with it the test.
# Every sanitizer report goes to $(B)/sanlog/ (the daemon's stderr is not
# always read by a test): the run fails if any report was written.
SANLOG   := $(CURDIR)/$(B)/sanlog
E2E_ENV := DMVGATE_BIN=$(CURDIR)/$(B)/dmvgate \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86:log_path=$(SANLOG)/asan \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SANLOG)/ubsan
e2e: $(B)/dmvgate dmvgate
	@ln -sfn ../../policy $(B)/policy
	@rm -rf $(SANLOG) && mkdir -p $(SANLOG)
	$(E2E_ENV) $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e
	@if [ -n "$$(ls $(SANLOG))" ]; then head -n 60 $(SANLOG)/*; \
		echo "e2e: sanitizer reports in $(SANLOG)"; exit 1; fi

# `serve` refuses to run as root without --user (docs/security.md); the test
# and benchmark harness runs as whoever calls make, often root in a build
# container, so it says it means it.
e2e soak bench bench-import bench-server bench-instr demo: export DMVGATE_ALLOW_ROOT := 1

# Crash suite (issue 10): the server under load, SIGKILLed at 20 random
# moments and restarted; every response received must have its audit entry.
SOAK_KILLS ?= 20
soak: $(B)/dmvgate
	@ln -sfn ../../policy $(B)/policy
	@rm -rf $(SANLOG) && mkdir -p $(SANLOG)
	$(E2E_ENV) scripts/soak.sh --kills $(SOAK_KILLS)
	@if [ -n "$$(ls $(SANLOG))" ]; then head -n 60 $(SANLOG)/*; \
		echo "soak: sanitizer reports in $(SANLOG)"; exit 1; fi

# libFuzzer targets, built with clang; `make test` replays their corpora,
# `make fuzz` runs each for FUZZ_SECONDS.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Isrc $(PKG_CFLAGS) \
	-fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_OBJS := $(LIB_SRCS:src/%.c=build/fuzz/obj/%.o)
build/fuzz/obj/%.o: src/%.c | $(DEPS_OK)
	@mkdir -p build/fuzz/obj
	@$(if $(Q),echo "  CC/FUZZ $<")
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
build/fuzz/libfuzz.a: $(FUZZ_OBJS)
	@rm -f $@
	$(Q)ar rcs $@ $^
build/fuzz/%: tests/fuzz/%.c build/fuzz/libfuzz.a
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build/fuzz/libfuzz.a $(PKG_LIBS) -pthread -lm

fuzz-replay: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
		n=$$(basename $$f); \
		$$f -runs=0 tests/fuzz/corpus/$${n#fuzz_} >/dev/null 2>build/fuzz/$$n.log \
			|| { cat build/fuzz/$$n.log; echo "FAILED: $$n"; exit 1; }; \
		echo "fuzz-replay: $$n ok ($$(ls tests/fuzz/corpus/$${n#fuzz_} | wc -l) inputs)"; \
	done

fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
		n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
		echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			build/fuzz/corpus-$$n tests/fuzz/corpus/$${n#fuzz_} 2>&1 | \
			grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' ; \
	done

test: dmvgate
	$(MAKE) unit
	$(MAKE) fuzz-replay
	$(MAKE) e2e

# Benchmark programs: bench/NAME_bench.c linked with the library.
$(B)/%_bench: bench/%_bench.c $(B)/libdmvgate.a
	$(CC) $(CFLAGS) -Wno-missing-prototypes -o $@ $< $(B)/libdmvgate.a $(LDLIBS)

# Every benchmark program the bench/bench-*.sh scripts run.
BENCH_PROGS := $(B)/store_bench $(B)/audit_bench $(B)/policy_bench $(B)/limits_bench \
	$(B)/nlets_bench $(B)/report_bench $(B)/mhd_bare

bench: dmvgate $(BENCH_PROGS)
	bench/run.sh

bench-import: dmvgate $(B)/store_bench
	bench/bench-import.sh

demo: dmvgate
	scripts/demo.sh

clean:
	rm -rf build dmvgate

-include $(OBJS:.o=.d) $(FUZZ_OBJS:.o=.d)

# Policy engine against the Cedar peer (issue 3): decides the peer's 10,000
# requests with bench/cedar-equivalent.policy, runs the peer, prints ratios.
$(B)/policy_bench: bench/policy_bench.c $(B)/libdmvgate.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libdmvgate.a $(LDLIBS)

bench-policy: dmvgate $(B)/policy_bench
	bench/bench-policy.sh $(B)/policy_bench

# ---- audit log benchmark (bench/audit_bench.c + bench/bench-audit.sh) ----
.PHONY: bench-audit
$(B)/audit_bench: bench/audit_bench.c $(B)/libdmvgate.a
	$(CC) $(CFLAGS) -Wno-missing-prototypes -o $@ $< $(B)/libdmvgate.a $(LDLIBS)

bench-audit: $(B)/dmvgate $(B)/audit_bench
	bench/bench-audit.sh

# ---- gateway benchmark (bench/bench-server.sh, issue 5): wrk against
# dmvgate serve, a bare libmicrohttpd ceiling and the PostgreSQL peer ----
.PHONY: bench-server
$(B)/mhd_bare: bench/mhd_bare.c | $(DEPS_OK)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -o $@ $< $(LDLIBS)

bench-server: dmvgate build/rel/mhd_bare
	bench/bench-server.sh

# Instructions per audited query under callgrind (bench/bench-instr.sh): the
# figure that tells two builds apart when req/s moves 10% between runs.
.PHONY: bench-instr
bench-instr: dmvgate
	bench/bench-instr.sh

# ---- install (issue 11, docs/operations.md): `make install` [PREFIX=/usr/local]
# [DESTDIR=/staging]: the binary, the man pages, the default policy and a
# sample configuration under $(SYSCONFDIR)/dmvgate (kept if already there:
# they are the administrator's), and the systemd unit.  `make uninstall`
# removes what install put there, but leaves configuration files that were
# changed since. ----
.PHONY: install uninstall
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(PREFIX)/lib/systemd/system
MAN1       := man/dmvgate.1
MAN5       := man/dmvgate.conf.5 man/dmvgate-policy.5 man/dmvgate-audit.5
ETCFILES   := policy/default.policy etc/dmvgate.conf

install: dmvgate
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(SYSCONFDIR)/dmvgate $(DESTDIR)$(UNITDIR)
	install -m 0755 dmvgate $(DESTDIR)$(BINDIR)/dmvgate
	install -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	@for f in $(ETCFILES); do \
		t=$(DESTDIR)$(SYSCONFDIR)/dmvgate/$$(basename $$f); \
		if [ -e $$t ] && ! cmp -s $$f $$t; then echo "  keeping $$t (changed locally)"; \
		else echo "install -m 0644 $$f $$t"; install -m 0644 $$f $$t; fi; \
	done
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' etc/dmvgate.service \
		> $(DESTDIR)$(UNITDIR)/dmvgate.service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/dmvgate.service.tmp
	mv -f $(DESTDIR)$(UNITDIR)/dmvgate.service.tmp $(DESTDIR)$(UNITDIR)/dmvgate.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/dmvgate $(DESTDIR)$(UNITDIR)/dmvgate.service
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN1))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MAN5)))
	@for f in $(ETCFILES); do \
		t=$(DESTDIR)$(SYSCONFDIR)/dmvgate/$$(basename $$f); \
		if [ -e $$t ] && ! cmp -s $$f $$t; then echo "  keeping $$t (changed locally)"; \
		else rm -f $$t; fi; \
	done
	-rmdir $(DESTDIR)$(SYSCONFDIR)/dmvgate 2>/dev/null
