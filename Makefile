# olb — build, run and test.
#
#   make            build/olbd, build/olbctl (release: -O2 -g)
#   make run        install missing packages, build, start everything on etc/olbd.conf
#   make test       unit tests (cmocka) and system tests (pytest) on a test build
#   make asan       the same tests on an AddressSanitizer + UBSan build
#   make fuzz       build the libFuzzer targets (clang) into build/fuzz/
#   make install    PREFIX=/usr/local DESTDIR=
#
# Variants build into their own directory: build/ (release), build/test/
# (with the fault-injection switches of OLB_TEST), build/asan/.

CC	?= cc
BUILD	?= build
PREFIX	?= /usr/local
PYTHON	?= /usr/bin/python3
VERSION	:= 0.1.0

WARNINGS = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wpointer-arith -Wcast-qual -Werror
OPT	?= -O2 -g
CFLAGS	+= -std=gnu11 $(OPT) $(WARNINGS) -I. -I$(BUILD)/gen -D_GNU_SOURCE \
	   -DOLB_VERSION='"$(VERSION)"' $(EXTRA_CFLAGS)
LDLIBS	+= -lhiredis -ljson-c -lconfig -lcurl -lssl -lcrypto -lexpat -lm

# olbd is the supervisor, the shared worker runtime and one folder per role;
# olbctl and olb-listener are programs of their own (supervisor/olbctl/,
# workers/demo/).  See docs/ARCHITECTURE.md, "Layout".
ROLES	   := proxy scaler health scheduler admin
COMMON_SRC := $(wildcard common/*.c)
OLBD_SRC   := $(wildcard supervisor/*.c) $(wildcard workers/*.c) \
	      $(foreach r,$(ROLES),$(wildcard workers/$(r)/*.c))
OLBCTL_SRC := $(wildcard supervisor/olbctl/*.c)
LISTENER_SRC := $(wildcard workers/demo/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
OLBD_OBJ   := $(OLBD_SRC:%.c=$(BUILD)/obj/%.o)
OLBCTL_OBJ := $(OLBCTL_SRC:%.c=$(BUILD)/obj/%.o)
LISTENER_OBJ := $(LISTENER_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

PROGRAMS   := $(BUILD)/olbd $(BUILD)/olbctl \
	      $(if $(wildcard $(LISTENER_SRC)),$(BUILD)/olb-listener)

.PHONY: all run test unit system asan fuzz install uninstall man-lint clean deps
.DEFAULT_GOAL := all

all: $(PROGRAMS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# The Redis scripts are Lua files, embedded into common/scripts.c at build
# time (one binary; nothing is read at run time).
LUA_SRC	:= $(sort $(wildcard common/lua/*.lua))
$(BUILD)/gen/common/scripts_lua.h: $(LUA_SRC) scripts/lua2c
	@mkdir -p $(dir $@)
	scripts/lua2c $(LUA_SRC) > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/common/scripts.o: $(BUILD)/gen/common/scripts_lua.h

$(BUILD)/olbd: $(OLBD_OBJ) $(COMMON_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/olbctl: $(OLBCTL_OBJ) $(COMMON_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The demo order listener: plays one instance of the fleet (make run, tests).
$(BUILD)/olb-listener: $(LISTENER_OBJ) $(COMMON_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests link every common object, the worker modules that stand alone
# (no worker runtime: parsers, the placement calls, the scaler's arithmetic)
# and the shared test support (a real redis-server per test, waiting on the
# event loop with a deadline).
UNIT_SUPPORT := $(wildcard tests/unit/support.c)
UNIT_WORKER_SRC := workers/proxy/placement.c workers/proxy/placement_answer.c \
	      workers/proxy/pcache.c \
	      workers/proxy/payload.c workers/scaler/sigv4.c workers/lease.c \
	      workers/instance_state.c workers/probe.c \
	      workers/scaler/ec2_xml.c workers/scaler/aws_creds.c workers/scaler/fleet.c \
	      workers/health/notify_text.c
UNIT_WORKER_OBJ := $(UNIT_WORKER_SRC:%.c=$(BUILD)/obj/%.o)

$(BUILD)/tests/%: tests/unit/%.c $(UNIT_SUPPORT) $(wildcard tests/unit/*.h) $(COMMON_OBJ) \
    $(UNIT_WORKER_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -o $@ $< $(UNIT_SUPPORT) $(COMMON_OBJ) \
	    $(UNIT_WORKER_OBJ) $(LDLIBS) -lcmocka

# Benchmarks of pure modules (scripts/bench-*): programs, not tests; make
# test builds them, so that they keep up with the code they measure.
BENCH_BIN := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/*.c))
$(BUILD)/bench/%: tests/bench/%.c $(wildcard tests/bench/*.h) $(COMMON_OBJ) $(UNIT_WORKER_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -o $@ $< $(COMMON_OBJ) $(UNIT_WORKER_OBJ) $(LDLIBS)

.PHONY: bench-bins
bench-bins: $(BENCH_BIN)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

deps:
	@scripts/install-deps

run: deps
	@$(MAKE) --no-print-directory all
	@exec scripts/run

# The test variant carries the fault-injection switches (OLB_TEST); the release
# build never does.
test:
	@$(MAKE) --no-print-directory BUILD=build/test EXTRA_CFLAGS=-DOLB_TEST all unit-bins \
	    bench-bins
	@scripts/run-tests build/test

asan:
	@$(MAKE) --no-print-directory BUILD=build/asan OPT='-O1 -g -fno-omit-frame-pointer' \
	    EXTRA_CFLAGS='-DOLB_TEST -fsanitize=address,undefined -fno-sanitize-recover=all' \
	    LDFLAGS='-fsanitize=address,undefined' all unit-bins
	@OLB_ASAN=1 scripts/run-tests build/asan

.PHONY: unit-bins
unit-bins: $(UNIT_BIN)

fuzz:
	@$(MAKE) --no-print-directory -f tests/fuzz/Makefile

# Installed paths: programs under $(PREFIX), the configuration in /etc/olbd
# (kept if it is there: an operator's file is never overwritten), the unit
# and init script with $(PREFIX)'s olbd, the manual pages.
SBINDIR	:= $(PREFIX)/sbin
BINDIR	:= $(PREFIX)/bin
MANDIR	:= $(PREFIX)/share/man
UNITDIR	:= /lib/systemd/system
MANPAGES := docs/man/olbd.8 docs/man/olbctl.8 docs/man/olbd.conf.5

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)/etc/olbd \
	    $(DESTDIR)/etc/init.d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8
	install -m 755 $(BUILD)/olbd $(DESTDIR)$(SBINDIR)/olbd
	install -m 755 $(BUILD)/olbctl $(DESTDIR)$(BINDIR)/olbctl
	install -m 755 $(BUILD)/olb-listener $(DESTDIR)$(BINDIR)/olb-listener
	install -m 644 etc/olbd.conf $(DESTDIR)/etc/olbd/olbd.conf.example
	[ -e $(DESTDIR)/etc/olbd/olbd.conf ] || \
	    install -m 640 etc/olbd.conf $(DESTDIR)/etc/olbd/olbd.conf
	sed 's|/usr/local/sbin/olbd|$(SBINDIR)/olbd|' etc/init.d/olbd > $(DESTDIR)/etc/init.d/olbd
	chmod 755 $(DESTDIR)/etc/init.d/olbd
	sed 's|@SBINDIR@|$(SBINDIR)|g' etc/olbd.service.in > $(DESTDIR)$(UNITDIR)/olbd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/olbd.service
	install -m 644 docs/man/olbd.8 docs/man/olbctl.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 docs/man/olbd.conf.5 $(DESTDIR)$(MANDIR)/man5/

# Everything install wrote but the configuration, which is the operator's.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/olbd $(DESTDIR)$(BINDIR)/olbctl \
	    $(DESTDIR)$(BINDIR)/olb-listener $(DESTDIR)/etc/olbd/olbd.conf.example \
	    $(DESTDIR)/etc/init.d/olbd $(DESTDIR)$(UNITDIR)/olbd.service \
	    $(DESTDIR)$(MANDIR)/man8/olbd.8 $(DESTDIR)$(MANDIR)/man8/olbctl.8 \
	    $(DESTDIR)$(MANDIR)/man5/olbd.conf.5

# The manual pages, as man(1) renders them, without a warning.
# man(1)'s groff warnings, and mandoc's lint where mandoc is installed
# (warnings and errors; its style notes about pages not installed are not).
man-lint:
	@for m in $(MANPAGES); do \
	    out=$$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings=all -l $$m 2>&1 >/dev/null); \
	    if [ -n "$$out" ]; then echo "$$m:"; echo "$$out"; exit 1; fi; \
	    if command -v mandoc >/dev/null 2>&1; then \
	        out=$$(mandoc -T lint -W warning $$m 2>&1 | grep -v "mandoc.db"); \
	        if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; \
	    fi; \
	done; echo "manual pages: no warnings"

clean:
	rm -rf build
