# kanal — plain GNU make + pkg-config.
#
#   make            build build/kanald, build/plugins/*.so and the SDK
#   make run        build, then run kanald in the foreground on conf/dev.conf
#   make check      every test, then again in an ASan+UBSan build
#   make layers     check that daemon/'s folders depend on each other downward only
#   make bench      the benchmarks under bench/, printing their figures
#   make install    PREFIX=/usr DESTDIR=...
#
# Every target that builds or tests first runs `make deps`, which installs
# missing Debian packages (as root) or prints the exact command to run.

PREFIX     ?= /usr/local
DESTDIR    ?=
BUILD      ?= build
SANITIZE   ?= 0
VERSION    := 0.1.0

ifeq ($(PREFIX),/usr)
SYSCONFDIR ?= /etc
else
SYSCONFDIR ?= $(PREFIX)/etc
endif
SBINDIR    := $(PREFIX)/sbin
PLUGINDIR  := $(PREFIX)/lib/kanal/plugins
INCLUDEDIR := $(PREFIX)/include
PCDIR      := $(PREFIX)/lib/pkgconfig
UNITDIR    := $(PREFIX)/lib/systemd/system
SYSUSERSDIR:= $(PREFIX)/lib/sysusers.d
TMPFILESDIR:= $(PREFIX)/lib/tmpfiles.d

# Debian packages: to build, to test, to benchmark.
BUILD_DEBS := gcc make pkg-config libuv1-dev libcurl4-openssl-dev libjansson-dev \
              liblmdb-dev libhttp-parser-dev libinih-dev libgmime-3.0-dev libssl-dev \
              libsystemd-dev
TEST_DEBS  := libcmocka-dev python3 python3-pytest python3-requests python3-jsonschema \
              python3-prometheus-client \
              lmdb-utils systemd
# The e-mail tests run real servers: Dovecot (IMAP), swaks (LMTP client), aiosmtpd (SMTP).
TEST_DEBS  += dovecot-imapd swaks python3-aiosmtpd
# The unsubscribe page is tested in a real browser: headless Chromium via Selenium.
TEST_DEBS  += chromium chromium-driver python3-selenium
BENCH_DEBS := nginx-light wrk python3-requests valgrind

CC      ?= cc
PYTHON  := /usr/bin/python3
PKGS    := libuv jansson lmdb inih libsystemd libcrypto libcurl
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter
CSTD    := -std=c11 -D_GNU_SOURCE
OPT     := -O2 -g
ifeq ($(SANITIZE),1)
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
           -fno-sanitize-recover=undefined -DKANAL_NO_DLCLOSE
SANFLAGS:= -fsanitize=address,undefined
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS_ALL = $(CSTD) $(OPT) $(WARN) -Isdk/include $(DAEMON_INC) $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL= $(SANFLAGS) $(LDFLAGS)

# kanald's sources, one folder per layer (docs/architecture.md, "Files");
# every folder is on the include path, so `#include "x.h"` finds x.h in any.
DAEMON_DIRS:= base json record store identity commit outbox net runtime api
DAEMON_INC := $(addprefix -Idaemon/,$(DAEMON_DIRS))
DAEMON_SRC := $(wildcard daemon/*.c $(addsuffix /*.c,$(addprefix daemon/,$(DAEMON_DIRS))))
DAEMON_HDR := $(wildcard $(addsuffix /*.h,$(addprefix daemon/,$(DAEMON_DIRS))))
DAEMON_OBJ := $(patsubst daemon/%.c,$(BUILD)/obj/daemon/%.o,$(DAEMON_SRC))
# Everything but the entry point and its signal handling, for unit tests and benchmarks.
CORE_OBJ   := $(filter-out $(BUILD)/obj/daemon/main.o $(BUILD)/obj/daemon/runtime/signals.o,\
                           $(DAEMON_OBJ))

# Every folder under plugins/ is one plugin, except plugins/shared/, which
# holds sources that several plugins compile in (PLUGIN_EXTRA_<name>).
PLUGINS    := $(filter-out shared,$(notdir $(wildcard plugins/*)))
PLUGIN_SO  := $(patsubst %,$(BUILD)/plugins/%.so,$(PLUGINS))
# Per-plugin libraries (beyond libc); a plugin links only what it uses.
PLUGIN_LIBS_webhook = $(shell pkg-config --libs jansson libcurl libcrypto 2>/dev/null)
PLUGIN_LIBS_sms     = $(shell pkg-config --libs jansson libcurl 2>/dev/null)
PLUGIN_LIBS_email   = $(shell pkg-config --libs jansson libcurl gmime-3.0 2>/dev/null)
PLUGIN_LIBS_facebook = $(shell pkg-config --libs jansson libcurl 2>/dev/null)
PLUGIN_LIBS_whatsapp = $(shell pkg-config --libs jansson libcurl 2>/dev/null)
PLUGIN_LIBS_twitter = $(shell pkg-config --libs jansson libcurl 2>/dev/null)
PLUGIN_LIBS_signup = $(shell pkg-config --libs jansson libcurl 2>/dev/null)
# Per-plugin compiler flags (include paths of the libraries above).
PLUGIN_CFLAGS_email = $(shell pkg-config --cflags gmime-3.0 2>/dev/null)
# Per-plugin extra sources from plugins/shared/, e.g.
# PLUGIN_EXTRA_facebook := plugins/shared/meta.c
PLUGIN_EXTRA_facebook := plugins/shared/meta.c plugins/shared/meta_graph.c
PLUGIN_EXTRA_whatsapp := plugins/shared/meta.c plugins/shared/meta_graph.c
PLUGIN_EXTRA_twitter := plugins/shared/api_fetch.c
PLUGIN_EXTRA_signup := plugins/shared/api_fetch.c
PLUGIN_CFLAGS = $(CSTD) $(OPT) $(WARN) -fPIC -fvisibility=hidden -Isdk/include $(PKG_CFLAGS)
PLUGIN_LDFLAGS:= -shared -Wl,--no-undefined $(SANFLAGS)

# Test plugins: one source, several deliberately broken variants.
TEST_PLUGIN_DIR := $(BUILD)/test-plugins
TEST_VARIANTS := echo:-DTEST_NAME='"echo"' \
                 badmajor:-DTEST_NAME='"badmajor"'+-DTEST_BAD_MAJOR \
                 newminor:-DTEST_NAME='"newminor"'+-DTEST_NEWER_MINOR \
                 toosmall:-DTEST_NAME='"toosmall"'+-DTEST_TOO_SMALL \
                 noentry:-DTEST_NAME='"noentry"'+-DTEST_NO_ENTRY \
                 initfail:-DTEST_NAME='"initfail"'+-DTEST_INIT_FAILS \
                 zz_dup:-DTEST_NAME='"echo"'
TEST_PLUGIN_SO := $(foreach v,$(TEST_VARIANTS),$(TEST_PLUGIN_DIR)/$(firstword $(subst :, ,$(v))).so)

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all deps deps-test deps-bench run check test unit e2e check-asan bench install \
        clean format sdk layers

all: deps $(BUILD)/kanald $(PLUGIN_SO) sdk

# ---- dependencies ----

define install_debs
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "missing Debian packages; run:"; \
	    echo "  sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi
endef

deps:
	$(call install_debs,$(BUILD_DEBS))

deps-test: deps
	$(call install_debs,$(TEST_DEBS))

deps-bench: deps
	$(call install_debs,$(BENCH_DEBS))

# ---- the daemon ----

# Paths compiled into kanald follow PREFIX; this stamp rebuilds them when it changes.
$(BUILD)/prefix.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(PREFIX) $(SYSCONFDIR)' | cmp -s - $@ || echo '$(PREFIX) $(SYSCONFDIR)' > $@

$(BUILD)/obj/daemon/%.o: daemon/%.c $(DAEMON_HDR) sdk/include/kanal/plugin.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/obj/daemon/runtime/config.o $(BUILD)/obj/daemon/main.o: $(BUILD)/prefix.stamp
$(BUILD)/obj/daemon/runtime/config.o: CFLAGS_ALL += -DKANAL_PLUGIN_DIR='"$(PLUGINDIR)"'
$(BUILD)/obj/daemon/main.o: CFLAGS_ALL += -DKANAL_SYSCONFDIR='"$(SYSCONFDIR)/kanal"' \
                                          -DKANAL_VERSION='"$(VERSION)"'

$(BUILD)/kanald: $(DAEMON_OBJ)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) -lhttp_parser -ldl -lpthread

# ---- plugins ----

.SECONDEXPANSION:
$(BUILD)/plugins/%.so: $$(wildcard plugins/%/*.c) $$(wildcard plugins/%/*.h) \
                       $$(PLUGIN_EXTRA_$$*) $$(wildcard plugins/shared/*.h) \
                       sdk/include/kanal/plugin.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) $(PLUGIN_CFLAGS_$*) -Iplugins/shared $(PLUGIN_LDFLAGS) -o $@ $(filter %.c,$^) \
	    $(PLUGIN_LIBS_$*)

define test_plugin_rule
$(TEST_PLUGIN_DIR)/$(1).so: tests/plugins/testplug.c sdk/include/kanal/plugin.h | deps
	@mkdir -p $$(dir $$@)
	$$(CC) $$(PLUGIN_CFLAGS) $$(PLUGIN_LDFLAGS) $(subst +, ,$(2)) -o $$@ $$<
endef
$(foreach v,$(TEST_VARIANTS),$(eval $(call test_plugin_rule,$(firstword $(subst :, ,$(v))),$(word 2,$(subst :, ,$(v))))))

# ---- SDK ----

sdk: $(BUILD)/kanal-plugin.pc $(BUILD)/sdk/hello.so

$(BUILD)/kanal-plugin.pc: sdk/kanal-plugin.pc.in $(BUILD)/prefix.stamp
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

$(BUILD)/sdk/hello.so: sdk/examples/hello.c sdk/include/kanal/plugin.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) $(PLUGIN_LDFLAGS) -o $@ $<

# ---- running ----

run: all
	@mkdir -p var
	$(BUILD)/kanald -c conf/dev.conf

# ---- tests ----

$(BUILD)/tests/%: tests/unit/%.c $(CORE_OBJ) tests/unit/unit.h | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit $(LDFLAGS_ALL) -o $@ $< $(CORE_OBJ) $(PKG_LIBS) \
	    -lhttp_parser -lcmocka -ldl -lpthread

# test_twilio also compiles the sms plugin's signature code (libc only).
$(BUILD)/tests/test_twilio: tests/unit/test_twilio.c plugins/sms/twilio_sig.c \
                            plugins/sms/twilio_sig.h $(CORE_OBJ) tests/unit/unit.h | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -Iplugins/sms $(LDFLAGS_ALL) -o $@ $< \
	    plugins/sms/twilio_sig.c $(CORE_OBJ) $(PKG_LIBS) -lhttp_parser -lcmocka -ldl -lpthread

# test_html compiles the e-mail plugin's HTML-to-text code (libc only).
$(BUILD)/tests/test_html: tests/unit/test_html.c plugins/email/html.c plugins/email/email.h \
                          $(CORE_OBJ) tests/unit/unit.h | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -Iplugins/email $(LDFLAGS_ALL) -o $@ $< \
	    plugins/email/html.c $(CORE_OBJ) $(PKG_LIBS) -lhttp_parser -lcmocka -ldl -lpthread

unit: $(UNIT_BIN) $(TEST_PLUGIN_SO)
	@set -e; export KANAL_TEST_PLUGINS=$(abspath $(TEST_PLUGIN_DIR)); \
	for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

e2e: all $(TEST_PLUGIN_SO) | deps-test
	KANAL_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e $(PYTEST_ARGS)

# kanald's folders depend on each other in tools/layers.txt's order, its
# modules in no circle (tools/layers.py; tests/e2e/test_layers.py tests it).
layers:
	$(PYTHON) tools/layers.py

test: deps-test layers
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory e2e

check: deps-test
	$(MAKE) --no-print-directory test
	$(MAKE) --no-print-directory check-asan

check-asan:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0 \
	$(MAKE) --no-print-directory BUILD=build-asan SANITIZE=1 test

$(BUILD)/bench/store: bench/store.c $(CORE_OBJ) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(CORE_OBJ) $(PKG_LIBS) -lhttp_parser -ldl -lpthread

bench: all deps-bench $(BUILD)/bench/store
	@set -e; for b in bench/*; do \
	  [ -x "$$b" ] && [ -f "$$b" ] || continue; echo "== $$b"; KANAL_BUILD=$(abspath $(BUILD)) $$b; \
	done

# ---- install ----

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(INCLUDEDIR)/kanal \
	    $(DESTDIR)$(PCDIR) $(DESTDIR)$(SYSCONFDIR)/kanal $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(PREFIX)/share/kanal/schema
	install -m 755 $(BUILD)/kanald $(DESTDIR)$(SBINDIR)/kanald
	install -m 644 $(PLUGIN_SO) $(DESTDIR)$(PLUGINDIR)/
	install -m 644 sdk/include/kanal/*.h $(DESTDIR)$(INCLUDEDIR)/kanal/
	install -m 644 $(BUILD)/kanal-plugin.pc $(DESTDIR)$(PCDIR)/kanal-plugin.pc
	install -m 644 sdk/schema/*.json $(DESTDIR)$(PREFIX)/share/kanal/schema/
	install -m 644 conf/kanal.conf $(DESTDIR)$(SYSCONFDIR)/kanal/kanal.conf.example
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    systemd/kanald.service.in > $(DESTDIR)$(UNITDIR)/kanald.service
	install -m 644 systemd/kanal.sysusers $(DESTDIR)$(SYSUSERSDIR)/kanal.conf
	install -m 644 systemd/kanal.tmpfiles $(DESTDIR)$(TMPFILESDIR)/kanal.conf

# ---- libkanal, kanalctl: reading the store from other processes ----
# (libkanal: sdk/reader/ + sdk/include/kanal/reader.h; kanalctl: tools/kanalctl/;
# their unit test, example and benchmark helper.  Kept together in this block.)

TEST_DEBS     += python3-lmdb

LIBDIR        := $(PREFIX)/lib
BINDIR        := $(PREFIX)/bin
READER_OBJ    := $(patsubst sdk/reader/%.c,$(BUILD)/obj/reader/%.o,$(wildcard sdk/reader/*.c))
READER_CFLAGS = $(CSTD) $(OPT) $(WARN) -fPIC -fvisibility=hidden -Isdk/include \
                 $(shell pkg-config --cflags lmdb 2>/dev/null)
READER_LIBS    = $(shell pkg-config --libs lmdb 2>/dev/null)
LIBKANAL      := $(BUILD)/libkanal.so.1 $(BUILD)/libkanal.so $(BUILD)/libkanal.a $(BUILD)/kanal.pc
KANALCTL_SRC  := $(wildcard tools/kanalctl/*.c)
CTL_CFLAGS    = $(CSTD) $(OPT) $(WARN) -Isdk/include -Isdk/reader \
                 $(shell pkg-config --cflags jansson lmdb 2>/dev/null)
CTL_LIBS       = $(shell pkg-config --libs jansson lmdb libcurl 2>/dev/null)

.PHONY: libkanal install-libkanal
all: libkanal $(BUILD)/kanalctl $(BUILD)/sdk/consumer
libkanal: $(LIBKANAL)

$(BUILD)/obj/reader/%.o: sdk/reader/%.c $(wildcard sdk/reader/*.h) sdk/include/kanal/reader.h \
                         | deps
	@mkdir -p $(dir $@)
	$(CC) $(READER_CFLAGS) -c -o $@ $<

$(BUILD)/libkanal.so.1: $(READER_OBJ)
	$(CC) -shared -Wl,-soname,libkanal.so.1 -Wl,--no-undefined $(LDFLAGS_ALL) -o $@ $^ \
	    $(READER_LIBS)

$(BUILD)/libkanal.so: $(BUILD)/libkanal.so.1
	ln -sf libkanal.so.1 $@

$(BUILD)/libkanal.a: $(READER_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/kanal.pc: sdk/kanal.pc.in $(BUILD)/prefix.stamp
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

# The example consumer links the shared library, as a CRM's program would.
$(BUILD)/sdk/consumer: sdk/examples/consumer.c sdk/include/kanal/reader.h $(BUILD)/libkanal.so
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) $(WARN) -Isdk/include $(LDFLAGS_ALL) -o $@ $< -L$(BUILD) -lkanal \
	    -Wl,-rpath,'$$ORIGIN/..'

# kanalctl links libkanal statically, and uses its internal header.
$(BUILD)/kanalctl: $(KANALCTL_SRC) tools/kanalctl/kanalctl.h $(wildcard sdk/include/kanal/*.h) $(BUILD)/libkanal.a | deps
	$(CC) $(CTL_CFLAGS) -DKANAL_VERSION='"$(VERSION)"' $(LDFLAGS_ALL) -o $@ $(KANALCTL_SRC) \
	    $(BUILD)/libkanal.a $(CTL_LIBS)

# test_reader writes with the daemon's objects and reads through libkanal.
$(BUILD)/tests/test_reader: tests/unit/test_reader.c $(CORE_OBJ) $(BUILD)/libkanal.a \
                            tests/unit/unit.h | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit $(LDFLAGS_ALL) -o $@ $< $(CORE_OBJ) $(BUILD)/libkanal.a \
	    $(PKG_LIBS) -lhttp_parser -lcmocka -ldl -lpthread

# bench/feed's helper: builds a large store (daemon objects) and reads it
# back (libkanal).
$(BUILD)/bench/feed: bench/feed.c $(CORE_OBJ) $(BUILD)/libkanal.a | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(CORE_OBJ) $(BUILD)/libkanal.a $(PKG_LIBS) \
	    -lhttp_parser -ldl -lpthread
bench: $(BUILD)/bench/feed

install: install-libkanal
install-libkanal: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCLUDEDIR)/kanal \
	    $(DESTDIR)$(PCDIR)
	install -m 755 $(BUILD)/libkanal.so.1 $(DESTDIR)$(LIBDIR)/libkanal.so.1
	ln -sf libkanal.so.1 $(DESTDIR)$(LIBDIR)/libkanal.so
	install -m 644 $(BUILD)/libkanal.a $(DESTDIR)$(LIBDIR)/libkanal.a
	install -m 644 sdk/include/kanal/reader.h $(DESTDIR)$(INCLUDEDIR)/kanal/reader.h
	install -m 644 $(BUILD)/kanal.pc $(DESTDIR)$(PCDIR)/kanal.pc
	install -m 755 $(BUILD)/kanalctl $(DESTDIR)$(BINDIR)/kanalctl

# ---- end of libkanal, kanalctl ----

format:
	clang-format -i daemon/*.c daemon/*/*.[ch] plugins/*/*.[ch] sdk/include/kanal/*.h sdk/examples/*.c \
	    tests/unit/*.[ch] tests/plugins/*.c

clean:
	rm -rf build build-asan

FORCE:
