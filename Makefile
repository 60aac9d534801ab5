# SPDX-License-Identifier: Apache-2.0
# kanal — plain GNU make + pkg-config.
#
#   make            build build/kanald, build/plugins/*.so and the SDK
#   make run        build, then run kanald in the foreground on conf/dev.conf
#   make check      every test, then again in an ASan+UBSan build, then the fuzzers,
#                   then the Debian package (check-package; needs root)
#   make fuzz       the libFuzzer targets, FUZZ_SECONDS each (tests/fuzz/README.md)
#   make layers     check that daemon/'s folders depend on each other downward only
#   make monitoring-check  promtool checks and unit-tests conf/monitoring/kanal.rules.yml
#   make bench      the benchmarks under bench/, printing their figures
#   make man        the man pages (man/*.scd, scdoc) into build/man/
#   make install    PREFIX=/usr DESTDIR=...
#   make uninstall  the same PREFIX and DESTDIR: removes what install put there
#   make deb        the Debian packages (debian/) into $(BUILD)/deb/
#   make check-package  build them, lintian, install and purge in a clean Debian root
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
# Libraries (libkanal, the plugin kit) and their .pc files go to the multiarch
# directory (/usr/lib/x86_64-linux-gnu on amd64) where dpkg-architecture
# knows it, else to lib/.
MULTIARCH  ?= $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
LIBDIR     ?= $(PREFIX)/lib$(if $(MULTIARCH),/$(MULTIARCH))
PCDIR      := $(LIBDIR)/pkgconfig
# The Debian package sets /lib/systemd/system (bookworm's place for units).
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DOCDIR     := $(PREFIX)/share/doc/kanal
SYSUSERSDIR:= $(PREFIX)/lib/sysusers.d
TMPFILESDIR:= $(PREFIX)/lib/tmpfiles.d

# Debian packages: to build, to test, to benchmark.
BUILD_DEBS := gcc make pkg-config libuv1-dev libcurl4-openssl-dev libjansson-dev \
              liblmdb-dev libhttp-parser-dev libinih-dev libgmime-3.0-dev libssl-dev \
              libsystemd-dev python3-yaml
# The listen plugin reads feeds and pages with libxml2.
BUILD_DEBS += libxml2-dev
# The sentiment processor: ICU (Turkish case folding), libexttextcat and its
# language fingerprints (language identification).
BUILD_DEBS += libicu-dev libexttextcat-dev libexttextcat-data
# The nats plugin (cluster): the NATS C client; its tests run real nats-server nodes.
BUILD_DEBS += libnats-dev
# kanalctl score --svg draws an audience's network with Graphviz (libgvc, the
# sfdp layout; EPL, linked into kanalctl only, never into kanald or plugins).
BUILD_DEBS += libgraphviz-dev
TEST_DEBS  := libcmocka-dev python3 python3-pytest python3-requests python3-jsonschema \
              python3-prometheus-client \
              lmdb-utils systemd
# The scores' PageRank and k-core are held against an independent
# implementation (tests/e2e/test_score_oracle.py); networkx's pagerank needs
# scipy, only recommended by its package.
TEST_DEBS  += python3-networkx python3-scipy
# The e-mail tests run real servers: Dovecot (IMAP), swaks (LMTP client), aiosmtpd (SMTP).
TEST_DEBS  += dovecot-imapd swaks python3-aiosmtpd
# The unsubscribe page is tested in a real browser: headless Chromium via Selenium.
TEST_DEBS  += chromium chromium-driver python3-selenium
# conf/monitoring/'s alert rules are checked and unit-tested with promtool.
TEST_DEBS  += prometheus
# The man pages (man/*.scd) are built with scdoc and checked with groff.
BUILD_DEBS += scdoc
TEST_DEBS  += groff
# conf/examples/' recipes are run as written: a real Postfix (LMTP into
# kanald) and nginx (the TLS front), each with its own config in a temp dir.
TEST_DEBS  += postfix nginx-light
TEST_DEBS  += nats-server
# test_cluster_auth.py: a TLS-only nats-server (its CA and certificate made
# with openssl) and a user NKey made with python3-cryptography (Ed25519).
TEST_DEBS  += openssl python3-cryptography
BENCH_DEBS := nginx-light wrk python3-requests valgrind

CC      ?= cc
PYTHON  := /usr/bin/python3
# libnats: the outbox in a cluster (daemon/outbox/outbox_nats.c).
PKGS    := libuv jansson lmdb inih libsystemd libcrypto libcurl libnats
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
# -lm: the scores' decay (exp2, daemon/score/build.c).
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
# common/: what kanald, libkanal and kanalctl share and do not publish (the
# error table, the store layout, the record validator).
COMMON_H   := $(wildcard common/*.h)
CFLAGS_ALL = $(CSTD) $(OPT) $(WARN) -Isdk/include $(DAEMON_INC) $(PKG_CFLAGS) $(CPPFLAGS) $(CFLAGS)
LDFLAGS_ALL= $(SANFLAGS) $(LDFLAGS)

# kanald's sources, one folder per layer (docs/architecture.md, "Files");
# every folder is on the include path, so `#include "x.h"` finds x.h in any.
DAEMON_DIRS:= base json record store identity commit score outbox net runtime api
DAEMON_INC := -Icommon $(addprefix -Idaemon/,$(DAEMON_DIRS))
DAEMON_SRC := $(wildcard daemon/*.c $(addsuffix /*.c,$(addprefix daemon/,$(DAEMON_DIRS))))
DAEMON_HDR := $(wildcard $(addsuffix /*.h,$(addprefix daemon/,$(DAEMON_DIRS))))
DAEMON_OBJ := $(patsubst daemon/%.c,$(BUILD)/obj/daemon/%.o,$(DAEMON_SRC))
# Sources under common/ that kanald and kanalctl both compile in (the record
# check); kanald's objects of them are part of DAEMON_OBJ.
COMMON_SRC := $(wildcard common/*.c)
DAEMON_OBJ += $(patsubst common/%.c,$(BUILD)/obj/common/%.o,$(COMMON_SRC))
# GET /v1/openapi.json: docs/openapi.yaml as JSON in a C file generated at
# build time (tools/openapi_json.py), so that the YAML stays the one source.
DAEMON_OBJ += $(BUILD)/obj/gen/openapi_json.o
# Everything but the entry point, for unit tests and benchmarks.
CORE_OBJ   := $(filter-out $(BUILD)/obj/daemon/main.o,$(DAEMON_OBJ))

# Every folder under plugins/ is one plugin, except plugins/shared/, which
# holds sources that several plugins compile in (PLUGIN_EXTRA_<name>).
PLUGINS    := $(filter-out shared,$(notdir $(wildcard plugins/*)))
PLUGIN_SO  := $(patsubst %,$(BUILD)/plugins/%.so,$(PLUGINS))
# Per-plugin libraries (beyond libc); a plugin links only what it uses.
PLUGIN_LIBS_webhook = $(shell pkg-config --libs jansson libcurl 2>/dev/null)
PLUGIN_LIBS_sms     = $(shell pkg-config --libs jansson libcurl 2>/dev/null)
PLUGIN_LIBS_email   = $(shell pkg-config --libs jansson libcurl gmime-3.0 2>/dev/null)
PLUGIN_LIBS_facebook = $(shell pkg-config --libs jansson libcurl 2>/dev/null)
PLUGIN_LIBS_whatsapp = $(shell pkg-config --libs jansson libcurl 2>/dev/null)
PLUGIN_LIBS_twitter = $(shell pkg-config --libs jansson libcurl 2>/dev/null)
PLUGIN_LIBS_signup = $(shell pkg-config --libs jansson libcurl 2>/dev/null)
PLUGIN_LIBS_http = $(shell pkg-config --libs libcurl 2>/dev/null)
PLUGIN_LIBS_listen = $(shell pkg-config --libs jansson libcurl libxml-2.0 2>/dev/null)
PLUGIN_CFLAGS_listen = $(shell pkg-config --cflags libxml-2.0 2>/dev/null) \
                       -DKANAL_VERSION='"$(VERSION)"'
SENTIMENT_LIBS := $(shell pkg-config --libs icu-uc libexttextcat 2>/dev/null) -lm
SENTIMENT_CFLAGS := $(shell pkg-config --cflags icu-uc libexttextcat 2>/dev/null)
PLUGIN_LIBS_sentiment = $(shell pkg-config --libs jansson 2>/dev/null) $(SENTIMENT_LIBS)
# The sentiment analyser without the plugin glue: the unit test, the fuzzer
# and the bench compile it as the plugin does.
SENTIMENT_SRC := plugins/sentiment/analyse.c plugins/sentiment/english.c plugins/sentiment/lexicon.c \
                 plugins/sentiment/turkish.c
SENTIMENT_DEP := $(SENTIMENT_SRC) plugins/sentiment/analyse.h
# -z nodelete: libnats keeps threads of its own (timers, callbacks) that
# outlive a connection; unloading nats.so, and with it libnats, at exit or
# on reload would leave them running in unmapped code.
PLUGIN_LIBS_nats = $(shell pkg-config --libs jansson libnats libcrypto 2>/dev/null) -lpthread \
                   -Wl,-z,nodelete
# NKeys are signed by kanal (common/nkey.c), in kanald and in the plugin.
PLUGIN_CFLAGS_nats = -Icommon
PLUGIN_EXTRA_nats := common/nkey.c
# Per-plugin compiler flags (include paths of the libraries above).
PLUGIN_CFLAGS_email = $(shell pkg-config --cflags gmime-3.0 2>/dev/null)
# The sentiment data is installed beside the plugins' share folder.
SENTIMENT_DATADIR := $(PREFIX)/share/kanal/sentiment
PLUGIN_CFLAGS_sentiment = $(SENTIMENT_CFLAGS) -DSENTIMENT_DATADIR='"$(SENTIMENT_DATADIR)"'
# Per-plugin extra sources from plugins/shared/, e.g.
# PLUGIN_EXTRA_facebook := plugins/shared/meta.c
PLUGIN_EXTRA_facebook := plugins/shared/meta.c plugins/shared/meta_graph.c
PLUGIN_EXTRA_whatsapp := plugins/shared/meta.c plugins/shared/meta_graph.c
PLUGIN_EXTRA_twitter := plugins/shared/api_fetch.c
PLUGIN_EXTRA_signup := plugins/shared/api_fetch.c
# CPPFLAGS, CFLAGS and LDFLAGS from the environment (dpkg-buildflags' hardening
# in the Debian package) reach every object and link, as in CFLAGS_ALL.
PLUGIN_CFLAGS = $(CSTD) $(OPT) $(WARN) -fPIC -fvisibility=hidden -Isdk/include $(PKG_CFLAGS) \
                $(CPPFLAGS) $(CFLAGS)
PLUGIN_LDFLAGS = -shared -Wl,--no-undefined $(SANFLAGS) $(LDFLAGS)

# The plugin kit (sdk/kit/, kanal/kit.h): a static library, PIC, libc only,
# linked into every in-tree plugin and installed for out-of-tree ones.
KIT_OBJ    := $(patsubst sdk/kit/%.c,$(BUILD)/obj/kit/%.o,$(wildcard sdk/kit/*.c))
KIT_LIB    := $(BUILD)/libkanal-plugin-kit.a

# Test plugins: one source, several deliberately broken variants.
TEST_PLUGIN_DIR := $(BUILD)/test-plugins
TEST_VARIANTS := echo:-DTEST_NAME='"echo"' \
                 badmajor:-DTEST_NAME='"badmajor"'+-DTEST_BAD_MAJOR \
                 newminor:-DTEST_NAME='"newminor"'+-DTEST_NEWER_MINOR \
                 toosmall:-DTEST_NAME='"toosmall"'+-DTEST_TOO_SMALL \
                 noentry:-DTEST_NAME='"noentry"'+-DTEST_NO_ENTRY \
                 initfail:-DTEST_NAME='"initfail"'+-DTEST_INIT_FAILS \
                 zz_dup:-DTEST_NAME='"echo"' \
                 v10:-DTEST_NAME='"v10"'+-DTEST_ABI10 \
                 stages:-DTEST_NAME='"stages"'+-DTEST_STAGES \
                 relayer:-DTEST_NAME='"relayer"'+-DTEST_RELAY
TEST_PLUGIN_SO := $(foreach v,$(TEST_VARIANTS),$(TEST_PLUGIN_DIR)/$(firstword $(subst :, ,$(v))).so)

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all deps deps-test deps-bench run check test unit e2e check-asan bench bench-baseline install \
        clean format sdk layers monitoring-check man man-check man-keys

all: deps $(BUILD)/kanald $(PLUGIN_SO) sdk man

# ---- dependencies ----

# Postfix is preseeded to "No configuration": installed without a main.cf,
# the packaged service cannot start, so no system MTA listens on port 25
# (test_recipes starts its own Postfix on a loopback port).
define install_debs
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    echo 'postfix postfix/main_mailer_type select No configuration' \
	      | debconf-set-selections; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "missing Debian packages; run:"; \
	    case "$$missing" in *" postfix"*) echo "  echo 'postfix postfix/main_mailer_type" \
	      "select No configuration' | sudo debconf-set-selections";; esac; \
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
	@echo '$(PREFIX) $(SYSCONFDIR) $(LIBDIR)' | cmp -s - $@ || echo '$(PREFIX) $(SYSCONFDIR) $(LIBDIR)' > $@

$(BUILD)/obj/daemon/%.o: daemon/%.c $(DAEMON_HDR) $(COMMON_H) $(wildcard sdk/include/kanal/*.h) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/obj/common/%.o: common/%.c $(COMMON_H) $(wildcard sdk/include/kanal/*.h) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

%/gen/openapi_json.c: docs/openapi.yaml sdk/schema/interaction-v1.json tools/openapi_json.py | deps
	$(PYTHON) tools/openapi_json.py docs/openapi.yaml $@

$(BUILD)/obj/gen/openapi_json.o: $(BUILD)/gen/openapi_json.c daemon/api/openapi.h | deps
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
                       sdk/include/kanal/plugin.h sdk/include/kanal/kit.h $(KIT_LIB) | deps
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) $(PLUGIN_CFLAGS_$*) -Iplugins/shared $(PLUGIN_LDFLAGS) -o $@ $(filter %.c,$^) \
	    $(KIT_LIB) $(PLUGIN_LIBS_$*)

define test_plugin_rule
$(TEST_PLUGIN_DIR)/$(1).so: tests/plugins/testplug.c sdk/include/kanal/plugin.h | deps
	@mkdir -p $$(dir $$@)
	$$(CC) $$(PLUGIN_CFLAGS) $$(PLUGIN_LDFLAGS) $(subst +, ,$(2)) -o $$@ $$<
endef
$(foreach v,$(TEST_VARIANTS),$(eval $(call test_plugin_rule,$(firstword $(subst :, ,$(v))),$(word 2,$(subst :, ,$(v))))))

# ---- SDK ----

sdk: $(BUILD)/kanal-plugin.pc $(BUILD)/sdk/hello.so $(BUILD)/sdk/tagger.so $(BUILD)/sdk/filesink.so \
     $(KIT_LIB) $(BUILD)/sdk/minimal.so


$(BUILD)/obj/kit/%.o: sdk/kit/%.c sdk/include/kanal/kit.h sdk/include/kanal/plugin.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -c -o $@ $<

$(KIT_LIB): $(KIT_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

# The SDK's complete example: a channel plugin written with the kit.
$(BUILD)/sdk/minimal.so: sdk/examples/minimal.c sdk/include/kanal/kit.h $(KIT_LIB) | deps
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) $(PLUGIN_LDFLAGS) -o $@ $< $(KIT_LIB)

$(BUILD)/kanal-plugin.pc: sdk/kanal-plugin.pc.in $(BUILD)/prefix.stamp
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

$(BUILD)/sdk/hello.so: sdk/examples/hello.c sdk/include/kanal/plugin.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) $(PLUGIN_LDFLAGS) -o $@ $<

# The pipeline-stage examples use jansson, as an out-of-tree plugin may.
$(BUILD)/sdk/tagger.so $(BUILD)/sdk/filesink.so: $(BUILD)/sdk/%.so: sdk/examples/%.c \
                                                 sdk/include/kanal/plugin.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) $(PLUGIN_LDFLAGS) -o $@ $< $(shell pkg-config --libs jansson)

# ---- running ----

run: all
	@mkdir -p var
	$(BUILD)/kanald -c conf/dev.conf

# ---- tests ----

$(BUILD)/tests/%: tests/unit/%.c $(CORE_OBJ) $(wildcard tests/unit/*.h) | deps-test
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

# test_nats_scan compiles the nats plugin's shared code (libnats, jansson).
$(BUILD)/tests/test_nats_scan: tests/unit/test_nats_scan.c plugins/nats/nats_common.c \
                               plugins/nats/nats_common.h $(CORE_OBJ) tests/unit/unit.h | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -Iplugins/nats $(LDFLAGS_ALL) -o $@ $< \
	    plugins/nats/nats_common.c $(CORE_OBJ) $(PKG_LIBS) -lhttp_parser -lcmocka -ldl -lpthread

# test_listen_match compiles the listen plugin's matching, robots.txt and
# document readers (libxml2).
$(BUILD)/tests/test_listen_match: tests/unit/test_listen_match.c plugins/listen/lmatch.c \
                                  plugins/listen/lparse.c plugins/listen/lmatch.h \
                                  plugins/listen/lparse.h $(CORE_OBJ) tests/unit/unit.h | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -Iplugins/listen $(shell pkg-config --cflags libxml-2.0) \
	    $(LDFLAGS_ALL) -o $@ $< plugins/listen/lmatch.c plugins/listen/lparse.c $(CORE_OBJ) \
	    $(PKG_LIBS) $(shell pkg-config --libs libxml-2.0) -lhttp_parser -lcmocka -ldl -lpthread

# test_kit and test_kit_emit link the plugin kit (sdk/kit/).
$(BUILD)/tests/test_kit $(BUILD)/tests/test_kit_emit: $(BUILD)/tests/%: tests/unit/%.c $(KIT_LIB) \
                                                      $(CORE_OBJ) tests/unit/unit.h | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit $(LDFLAGS_ALL) -o $@ $< $(KIT_LIB) $(CORE_OBJ) $(PKG_LIBS) \
	    -lhttp_parser -lcmocka -ldl -lpthread

# test_sentiment compiles the sentiment processor's analyser (ICU, libexttextcat).
$(BUILD)/tests/test_sentiment: tests/unit/test_sentiment.c $(SENTIMENT_DEP) tests/unit/unit.h | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(SENTIMENT_CFLAGS) -Itests/unit -Iplugins/sentiment $(LDFLAGS_ALL) -o $@ $< \
	    $(SENTIMENT_SRC) $(SENTIMENT_LIBS) -lcmocka

unit: $(UNIT_BIN) $(TEST_PLUGIN_SO)
	@set -e; export KANAL_TEST_PLUGINS=$(abspath $(TEST_PLUGIN_DIR)); \
	for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

# test_score_oracle.py runs test_score_graph's oracle mode against networkx,
# test_score_community.py test_score_community's modularity mode,
# test_kanalctl_score.py test_score_store's keep mode.
e2e: all $(TEST_PLUGIN_SO) $(BUILD)/tests/test_score_graph $(BUILD)/tests/test_score_community \
     $(BUILD)/tests/test_score_store | deps-test
	KANAL_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e $(PYTEST_ARGS)

# kanald's folders depend on each other in tools/layers.txt's order, its
# modules in no circle (tools/layers.py; tests/e2e/test_layers.py tests it).
layers:
	$(PYTHON) tools/layers.py

test: deps-test layers
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory e2e

# conf/monitoring/'s alert rules: valid (promtool check rules), and each
# alert fires on the series it is for (kanal.rules.test.yml).  That every
# metric they and the dashboard name exists in a real scrape is
# tests/e2e/test_monitoring.py's part.
monitoring-check: deps-test
	promtool check rules conf/monitoring/kanal.rules.yml
	cd conf/monitoring && promtool test rules kanal.rules.test.yml

check: deps-test monitoring-check man-check
	$(MAKE) --no-print-directory test
	$(MAKE) --no-print-directory check-asan
	$(MAKE) --no-print-directory fuzz-check
	$(MAKE) --no-print-directory check-package

check-asan:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0 \
	$(MAKE) --no-print-directory BUILD=build-asan SANITIZE=1 test

$(BUILD)/bench/store: bench/store.c $(CORE_OBJ) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(CORE_OBJ) $(PKG_LIBS) -lhttp_parser -ldl -lpthread

# The baseline bench/ingest runs beside this build: the commit named in
# bench/BASELINE (override with BENCH_BASELINE=<commit>, or BENCH_BASELINE=
# for none), built from the repository's history into $(BUILD)/baseline-<commit>.
BENCH_BASELINE ?= $(shell cat bench/BASELINE 2>/dev/null)
BASELINE_DIR := $(abspath $(BUILD))/baseline-$(BENCH_BASELINE)

bench-baseline: deps
	@set -e; [ -n "$(BENCH_BASELINE)" ] || exit 0; \
	if [ -x "$(BASELINE_DIR)/build/kanald" ] && [ -f "$(BASELINE_DIR)/build/plugins/webhook.so" ]; then exit 0; fi; \
	if ! git rev-parse -q --verify "$(BENCH_BASELINE)^{commit}" >/dev/null 2>&1; then \
	  echo "bench: baseline $(BENCH_BASELINE) is not in this repository's history; no baseline run" >&2; exit 0; fi; \
	echo "bench: building the baseline $(BENCH_BASELINE) in $(BASELINE_DIR)"; \
	rm -rf "$(BASELINE_DIR)"; mkdir -p "$(BASELINE_DIR)/src"; \
	git archive "$(BENCH_BASELINE)" | tar -x -C "$(BASELINE_DIR)/src"; \
	$(MAKE) --no-print-directory -C "$(BASELINE_DIR)/src" BUILD="$(BASELINE_DIR)/build" \
	    "$(BASELINE_DIR)/build/kanald" "$(BASELINE_DIR)/build/plugins/webhook.so" >"$(BASELINE_DIR)/build.log" 2>&1 || \
	  { echo "bench: the baseline $(BENCH_BASELINE) did not build (see $(BASELINE_DIR)/build.log)" >&2; exit 1; }

$(BUILD)/bench/sentiment_eval: bench/sentiment_eval.c $(SENTIMENT_DEP) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(SENTIMENT_CFLAGS) -Iplugins/sentiment $(LDFLAGS_ALL) -o $@ $< \
	    $(SENTIMENT_SRC) $(SENTIMENT_LIBS)

bench: all deps-bench bench-baseline $(BUILD)/bench/store $(BUILD)/bench/sentiment_eval
	@set -e; if [ -x "$(BASELINE_DIR)/build/kanald" ]; then \
	  export KANAL_BENCH_BASELINE_BUILD="$(BASELINE_DIR)/build" KANAL_BENCH_BASELINE="$(BENCH_BASELINE)"; fi; \
	for b in bench/*; do \
	  [ -x "$$b" ] && [ -f "$$b" ] || continue; echo "== $$b"; KANAL_BUILD=$(abspath $(BUILD)) $$b; \
	done

# ---- man pages ----
# man/NAME.N.scd -> $(BUILD)/man/NAME.N with the installation's paths put in
# for @SYSCONFDIR@, @PLUGINDIR@ and @PREFIX@.  kanal.conf.5.scd's key lists are made
# from the option tables (make man-keys; tests/e2e/test_man.py
# fails when they drift).  man-check: groff finds no fault in any page.

MAN_SRC    := $(wildcard man/*.scd)
MAN_PAGES  := $(patsubst man/%.scd,$(BUILD)/man/%,$(MAN_SRC))

man: $(MAN_PAGES)

# The sentiment data that comes from npm (plugins/sentiment/data/README.md):
# kept in the tree so that a build needs no network; these fetch the pinned
# packages again (npm pack, sha512 checked) and compare or rewrite the files.
.PHONY: sentiment-data sentiment-data-check
sentiment-data:
	$(PYTHON) tools/sentiment_data.py --write
sentiment-data-check:
	$(PYTHON) tools/sentiment_data.py --check

# After a change to an option table: rewrite kanal.conf.5.scd's key lists.
man-keys: $(BUILD)/kanald $(PLUGIN_SO)
	$(PYTHON) tools/mankeys.py --kanald $(BUILD)/kanald --plugin-dir $(BUILD)/plugins --write

$(BUILD)/man/%: man/%.scd $(BUILD)/prefix.stamp | deps
	@mkdir -p $(dir $@)
	sed -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@PLUGINDIR@|$(PLUGINDIR)|g' \
	    -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@PREFIX@|$(PREFIX)|g' $< > $@.scd
	scdoc < $@.scd > $@.tmp
	rm -f $@.scd
	mv $@.tmp $@

man-check: $(MAN_PAGES) | deps-test
	@set -e; for p in $(MAN_PAGES); do \
	  w=$$(groff -ww -z -man $$p 2>&1) || { echo "$$p: groff failed: $$w"; exit 1; }; \
	  if [ -n "$$w" ]; then echo "$$p: groff warns:"; echo "$$w"; exit 1; fi; \
	  echo "$$p: groff -ww -z -man: no warnings"; \
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
	install -d $(DESTDIR)$(LIBDIR)
	install -m 644 $(KIT_LIB) $(DESTDIR)$(LIBDIR)/libkanal-plugin-kit.a
	install -m 644 sdk/schema/*.json $(DESTDIR)$(PREFIX)/share/kanal/schema/
	install -m 644 sdk/kanal-plugin.map $(DESTDIR)$(PREFIX)/share/kanal/kanal-plugin.map
	install -d $(DESTDIR)$(SENTIMENT_DATADIR)
	install -m 644 plugins/sentiment/data/*.tsv plugins/sentiment/data/*.txt \
	    plugins/sentiment/data/*.csv plugins/sentiment/data/*.conf \
	    plugins/sentiment/data/*LICENSE* plugins/sentiment/data/README.md $(DESTDIR)$(SENTIMENT_DATADIR)/
	install -m 644 conf/kanal.conf $(DESTDIR)$(SYSCONFDIR)/kanal/kanal.conf.example
	install -m 644 systemd/kanald.service.d/credentials.conf.example \
	    $(DESTDIR)$(SYSCONFDIR)/kanal/credentials.conf.example
	install -d $(DESTDIR)$(PREFIX)/share/kanal/examples
	install -m 644 conf/examples/*.conf $(DESTDIR)$(PREFIX)/share/kanal/examples/
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    systemd/kanald.service.in > $(DESTDIR)$(UNITDIR)/kanald.service
	install -m 644 systemd/kanal.sysusers $(DESTDIR)$(SYSUSERSDIR)/kanal.conf
	install -m 644 systemd/kanal.tmpfiles $(DESTDIR)$(TMPFILESDIR)/kanal.conf
	@set -e; for p in $(MAN_PAGES); do \
	  d=$(DESTDIR)$(PREFIX)/share/man/man$${p##*.}; \
	  echo "install -m 644 $$p $$d/"; install -d $$d; install -m 644 $$p $$d/; \
	done
	install -d $(DESTDIR)$(DOCDIR)/docs/channels
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/
	install -m 644 docs/*.md $(DESTDIR)$(DOCDIR)/docs/
	install -m 644 docs/channels/*.md $(DESTDIR)$(DOCDIR)/docs/channels/

# Exactly what install (and install-libkanal) put there, and the folders that
# are kanal's own once they are empty: a kanal.conf (or api-tokens) written by
# the operator in $(SYSCONFDIR)/kanal stays, and so does that folder.
INSTALLED = $(SBINDIR)/kanald $(addprefix $(PLUGINDIR)/,$(notdir $(PLUGIN_SO))) \
             $(addprefix $(INCLUDEDIR)/kanal/,$(notdir $(wildcard sdk/include/kanal/*.h))) \
             $(PCDIR)/kanal-plugin.pc $(LIBDIR)/libkanal-plugin-kit.a \
             $(addprefix $(PREFIX)/share/kanal/schema/,$(notdir $(wildcard sdk/schema/*.json))) \
             $(PREFIX)/share/kanal/kanal-plugin.map \
             $(addprefix $(PREFIX)/share/kanal/examples/,$(notdir $(wildcard conf/examples/*.conf))) \
             $(addprefix $(SENTIMENT_DATADIR)/,$(notdir $(wildcard plugins/sentiment/data/*.tsv \
                 plugins/sentiment/data/*.txt plugins/sentiment/data/*.csv plugins/sentiment/data/*.conf \
                 plugins/sentiment/data/*LICENSE* plugins/sentiment/data/README.md))) \
             $(SYSCONFDIR)/kanal/kanal.conf.example $(SYSCONFDIR)/kanal/credentials.conf.example \
             $(UNITDIR)/kanald.service \
             $(SYSUSERSDIR)/kanal.conf $(TMPFILESDIR)/kanal.conf \
             $(foreach p,$(MAN_PAGES),$(PREFIX)/share/man/man$(subst .,,$(suffix $(p)))/$(notdir $(p))) \
             $(DOCDIR)/README.md $(addprefix $(DOCDIR)/,$(wildcard docs/*.md docs/channels/*.md)) \
             $(LIBDIR)/libkanal.so.1 $(LIBDIR)/libkanal.so $(LIBDIR)/libkanal.a \
             $(PCDIR)/kanal.pc $(BINDIR)/kanalctl
INSTALLED_DIRS = $(DOCDIR)/docs/channels $(DOCDIR)/docs $(DOCDIR) $(PREFIX)/share/kanal/schema $(PREFIX)/share/kanal/examples $(SENTIMENT_DATADIR) $(PREFIX)/share/kanal \
                  $(INCLUDEDIR)/kanal $(PLUGINDIR) $(PREFIX)/lib/kanal $(SYSCONFDIR)/kanal

.PHONY: uninstall
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	@for d in $(addprefix $(DESTDIR),$(INSTALLED_DIRS)); do \
	  if [ -d $$d ]; then rmdir --ignore-fail-on-non-empty $$d; fi; \
	done

# ---- libkanal, kanalctl: reading the store from other processes ----
# (libkanal: sdk/reader/ + sdk/include/kanal/reader.h; kanalctl: tools/kanalctl/;
# their unit test, example and benchmark helper.  Kept together in this block.)

TEST_DEBS     += python3-lmdb

BINDIR        := $(PREFIX)/bin
READER_OBJ    := $(patsubst sdk/reader/%.c,$(BUILD)/obj/reader/%.o,$(wildcard sdk/reader/*.c))
READER_CFLAGS = $(CSTD) $(OPT) $(WARN) -fPIC -fvisibility=hidden -Isdk/include -Icommon \
                 $(shell pkg-config --cflags lmdb 2>/dev/null) $(CPPFLAGS) $(CFLAGS)
READER_LIBS    = $(shell pkg-config --libs lmdb 2>/dev/null)
LIBKANAL      := $(BUILD)/libkanal.so.1 $(BUILD)/libkanal.so $(BUILD)/libkanal.a $(BUILD)/kanal.pc
KANALCTL_SRC  := $(wildcard tools/kanalctl/*.c)
# kanalctl score computes scores with kanald's own code (daemon/score/ and the
# layers beneath it): kanalctl links the daemon's objects from an archive, so
# only what it calls (and what that calls) is pulled in.
CTL_CFLAGS    = $(CSTD) $(OPT) $(WARN) -Isdk/include -Isdk/reader $(DAEMON_INC) \
                 $(shell pkg-config --cflags jansson lmdb libgvc 2>/dev/null) $(CPPFLAGS) $(CFLAGS)
CTL_LIBS       = $(shell pkg-config --libs jansson lmdb libcurl libnats libgvc 2>/dev/null) \
                 $(PKG_LIBS) -lhttp_parser -ldl -lpthread
CORE_LIB      := $(BUILD)/libkanald-core.a

.PHONY: libkanal install-libkanal
all: libkanal $(BUILD)/kanalctl $(BUILD)/sdk/consumer
libkanal: $(LIBKANAL)

$(BUILD)/obj/reader/%.o: sdk/reader/%.c $(wildcard sdk/reader/*.h) $(COMMON_H) $(wildcard sdk/include/kanal/*.h) \
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
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

# The example consumer links the shared library, as a CRM's program would.
$(BUILD)/sdk/consumer: sdk/examples/consumer.c sdk/include/kanal/reader.h $(BUILD)/libkanal.so
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) $(WARN) -Isdk/include $(LDFLAGS_ALL) -o $@ $< -L$(BUILD) -lkanal \
	    -Wl,-rpath,'$$ORIGIN/..'

$(CORE_LIB): $(CORE_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

# kanalctl links libkanal statically, and uses its internal header.
$(BUILD)/kanalctl: $(KANALCTL_SRC) $(COMMON_SRC) $(wildcard tools/kanalctl/*.h) \
                   $(wildcard sdk/include/kanal/*.h) $(COMMON_H) $(DAEMON_HDR) $(BUILD)/libkanal.a \
                   $(CORE_LIB) | deps
	$(CC) $(CTL_CFLAGS) -DKANAL_VERSION='"$(VERSION)"' $(LDFLAGS_ALL) -o $@ $(KANALCTL_SRC) $(COMMON_SRC) \
	    $(BUILD)/libkanal.a $(CORE_LIB) $(CTL_LIBS)

# test_reader writes with the daemon's objects and reads through libkanal.
$(BUILD)/tests/test_reader: tests/unit/test_reader.c $(CORE_OBJ) $(BUILD)/libkanal.a \
                            tests/unit/unit.h | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit $(LDFLAGS_ALL) -o $@ $< $(CORE_OBJ) $(BUILD)/libkanal.a \
	    $(PKG_LIBS) -lhttp_parser -lcmocka -ldl -lpthread

# test_layout writes a store with the daemon's objects and opens it with
# libkanal (and its internal header).
$(BUILD)/tests/test_layout: tests/unit/test_layout.c $(CORE_OBJ) $(BUILD)/libkanal.a \
                            tests/unit/unit.h $(COMMON_H) | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -Isdk/reader $(LDFLAGS_ALL) -o $@ $< $(CORE_OBJ) \
	    $(BUILD)/libkanal.a $(PKG_LIBS) -lhttp_parser -lcmocka -ldl -lpthread

# test_errors compares kanald's and libkanal's strerror.
$(BUILD)/tests/test_errors: tests/unit/test_errors.c $(CORE_OBJ) $(BUILD)/libkanal.a \
                            tests/unit/unit.h $(COMMON_H) | deps-test
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

# bench/score's helper: grows a store of a social audience with the daemon's
# writer and times full scoring runs on it.
$(BUILD)/bench/score: bench/score.c $(CORE_OBJ) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(CORE_OBJ) $(PKG_LIBS) -lhttp_parser -ldl -lpthread
bench: $(BUILD)/bench/score

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
	clang-format -i daemon/*.c daemon/*/*.[ch] common/*.[ch] plugins/*/*.[ch] sdk/include/kanal/*.h \
	    sdk/examples/*.c sdk/kit/*.c tests/unit/*.[ch] tests/plugins/*.c tests/fuzz/*.[ch]

clean:
	rm -rf build build-asan build-fuzz

FORCE:

# ---- fuzzing: libFuzzer targets (tests/fuzz/, README there) ----
#
#   make fuzz FUZZ_SECONDS=60   build build-fuzz/fuzz_*, run each for N seconds on
#                               its corpus (build-fuzz/corpus/<target>) and print
#                               executions, cov, ft and whether it crashed
#   make fuzz-check             every input under tests/fuzz/regressions/<target>/
#                               once, the targets that open sockets for
#                               FUZZ_SIGNAL_SECONDS under a rain of SIGALRM
#                               (fuzz-signals), then each target for
#                               FUZZ_CHECK_SECONDS (part of `make check`)
#
# The daemon's objects are built again with clang and the fuzzer's coverage
# instrumentation (no main: libFuzzer brings its own); a plugin's sources are
# compiled into its fuzzer, as each defines kanal_plugin_entry.

TEST_DEBS     += clang-14 libfuzzer-14-dev llvm-14

FUZZ_CC       := clang-14
FUZZ_BUILD    := build-fuzz
FUZZ_SECONDS  ?= 60
FUZZ_CHECK_SECONDS ?= 10
FUZZ_SIGNAL_SECONDS ?= 5
# The targets whose harness makes blocking socket calls (connect, accept,
# recv): tests/fuzz/signals.sh.
FUZZ_SIGNAL_TARGETS := http lmtp eventbrite
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS    = $(CSTD) -g -O1 -fno-omit-frame-pointer $(WARN) -Isdk/include $(DAEMON_INC) \
                 -Itests/fuzz $(PKG_CFLAGS) -DKANAL_NO_DLCLOSE $(FUZZ_SAN) \
                 -fsanitize=fuzzer-no-link
FUZZ_LIBS      = $(PKG_LIBS) -lhttp_parser -ldl -lpthread
# The same objects the unit tests link (all but main and signals), built
# again for the fuzzers.
FUZZ_OBJ      := $(patsubst $(BUILD)/obj/%,$(FUZZ_BUILD)/obj/%,$(CORE_OBJ))
FUZZ_TARGETS  := jsonin record form auth config http twilio_sig sms facebook whatsapp \
                 webhook twitter signup_form eventbrite csv mime html lmtp listen sentiment \
                 natsmsg kitjson outboxmsg peek prescan
FUZZ_BIN      := $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_TARGETS))

# What a target compiles beyond tests/fuzz/fuzz_<target>.c and the daemon's
# objects: a plugin's sources and the fake host table (tests/fuzz/fakehost.c).
# Plugins answer through the plugin kit (sdk/kit/), compiled in with the host.
FUZZ_HOST            := tests/fuzz/fakehost.c $(wildcard sdk/kit/*.c)
FUZZ_SRC_twilio_sig  := plugins/sms/twilio_sig.c
FUZZ_SRC_sms         := $(wildcard plugins/sms/*.c) $(FUZZ_HOST)
FUZZ_SRC_facebook    := $(wildcard plugins/facebook/*.c) $(PLUGIN_EXTRA_facebook) $(FUZZ_HOST)
FUZZ_SRC_whatsapp    := $(wildcard plugins/whatsapp/*.c) $(PLUGIN_EXTRA_whatsapp) $(FUZZ_HOST)
FUZZ_SRC_webhook     := $(wildcard plugins/webhook/*.c) $(FUZZ_HOST)
FUZZ_SRC_twitter     := $(wildcard plugins/twitter/*.c) $(PLUGIN_EXTRA_twitter) $(FUZZ_HOST)
FUZZ_SRC_signup_form := $(wildcard plugins/signup/*.c) $(PLUGIN_EXTRA_signup) $(FUZZ_HOST)
FUZZ_SRC_eventbrite  := $(FUZZ_SRC_signup_form)
FUZZ_SRC_csv         := plugins/signup/csv.c
FUZZ_SRC_mime        := $(wildcard plugins/email/*.c) $(FUZZ_HOST)
FUZZ_SRC_html        := $(FUZZ_SRC_mime)
FUZZ_SRC_lmtp        := $(FUZZ_SRC_mime)
FUZZ_GMIME_CFLAGS     = $(shell pkg-config --cflags gmime-3.0 2>/dev/null)
FUZZ_GMIME_LIBS       = $(shell pkg-config --libs gmime-3.0 2>/dev/null)
FUZZ_CFLAGS_mime      = $(FUZZ_GMIME_CFLAGS)
FUZZ_CFLAGS_html      = $(FUZZ_GMIME_CFLAGS)
FUZZ_CFLAGS_lmtp      = $(FUZZ_GMIME_CFLAGS)
FUZZ_LIBS_mime        = $(FUZZ_GMIME_LIBS)
FUZZ_LIBS_html        = $(FUZZ_GMIME_LIBS)
FUZZ_LIBS_lmtp        = $(FUZZ_GMIME_LIBS)
FUZZ_SRC_listen       := plugins/listen/lparse.c plugins/listen/lmatch.c
FUZZ_CFLAGS_listen     = $(shell pkg-config --cflags libxml-2.0 2>/dev/null)
FUZZ_LIBS_listen       = $(shell pkg-config --libs libxml-2.0 2>/dev/null)
FUZZ_SRC_sentiment   := $(SENTIMENT_SRC)
FUZZ_SRC_natsmsg     := plugins/nats/nats_relay.c
FUZZ_SRC_kitjson     := $(wildcard sdk/kit/*.c)
FUZZ_CFLAGS_sentiment = $(SENTIMENT_CFLAGS)
FUZZ_LIBS_sentiment   = $(SENTIMENT_LIBS)

.PHONY: fuzz fuzz-build fuzz-check fuzz-regress fuzz-signals fuzz-corpus

fuzz-build: $(FUZZ_BIN)

# Made by a pattern rule for the fuzzers' link: keep them between builds.
.SECONDARY: $(FUZZ_OBJ)

$(FUZZ_BUILD)/obj/%.o: %.c $(DAEMON_HDR) $(COMMON_H) $(wildcard sdk/include/kanal/*.h) \
                       | deps-test
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/obj/gen/openapi_json.o: $(FUZZ_BUILD)/gen/openapi_json.c daemon/api/openapi.h \
                                      | deps-test
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

# Plugins found from a fuzzed config come from the config file's own folder,
# which holds nothing but that file (tests/fuzz/fuzz_config.c).
$(FUZZ_BUILD)/obj/daemon/runtime/config.o: FUZZ_CFLAGS += -DKANAL_PLUGIN_DIR='"."'

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_SRC_$$*) $(wildcard tests/fuzz/*.h) \
                      $(wildcard plugins/*/*.h) $(FUZZ_OBJ) | deps-test
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CFLAGS_$*) $(addprefix -I,$(sort $(dir $(FUZZ_SRC_$*)))) \
	    -Iplugins/shared -fsanitize=fuzzer -o $@ \
	    $(filter %.c,$^) $(FUZZ_OBJ) $(FUZZ_LIBS) $(FUZZ_LIBS_$*)

# Seeds: tests/fuzz/seeds/<target>/ and the tests' fixtures (tests/fuzz/corpus.sh).
fuzz-corpus: | deps-test
	@tests/fuzz/corpus.sh $(FUZZ_BUILD)/corpus $(FUZZ_TARGETS)

fuzz: fuzz-build fuzz-corpus
	@tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-regress: fuzz-build
	@tests/fuzz/regress.sh $(FUZZ_BUILD) $(FUZZ_TARGETS)

fuzz-signals: fuzz-build
	@tests/fuzz/signals.sh $(FUZZ_BUILD) $(FUZZ_SIGNAL_SECONDS) \
	    $(filter $(FUZZ_SIGNAL_TARGETS),$(FUZZ_TARGETS))

# Every part runs whatever the first found; any failing fails the check.
fuzz-check: fuzz-build fuzz-corpus
	@r=0; tests/fuzz/regress.sh $(FUZZ_BUILD) $(FUZZ_TARGETS) || r=1; \
	tests/fuzz/signals.sh $(FUZZ_BUILD) $(FUZZ_SIGNAL_SECONDS) \
	    $(filter $(FUZZ_SIGNAL_TARGETS),$(FUZZ_TARGETS)) || r=1; \
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_CHECK_SECONDS) $(FUZZ_TARGETS) || r=1; exit $$r

# ---- end of fuzzing ----

# ---- the Debian packages (debian/) ----
#
#   make deb             kanal, libkanal1, libkanal-dev, kanal-plugin-dev into
#                        $(BUILD)/deb/ (dpkg-buildpackage on a copy of the tree,
#                        so nothing is written outside $(BUILD)), then lintian
#   make check-package   make deb, then install them in a clean Debian 12 root
#                        (debootstrap, cached in $(BUILD)/) and check the
#                        user, folders, conffiles and purge (tests/package/)

# dpkg-buildpackage also checks build-essential (its implicit build dependency).
DEB_DEBS   := build-essential debhelper dpkg-dev fakeroot lintian debootstrap
DEB_DIR    := $(BUILD)/deb
DEB_SRC    := $(DEB_DIR)/kanal-$(VERSION)

.PHONY: deps-deb deb check-package

deps-deb: deps
	$(call install_debs,$(DEB_DEBS))

deb: deps-deb
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_SRC)
	tar -c --exclude-vcs --exclude='./build*' --exclude='./$(BUILD)' --exclude=./var -f - . \
	    | tar -x -C $(DEB_SRC)
	# Variables given to this make (BUILD=, SANITIZE=1 ...) reach debian/rules'
	# make through MAKEFLAGS and the environment: drop the first, and
	# debian/rules sets every one that matters (the package is a release build).
	cd $(DEB_SRC) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL dpkg-buildpackage -b -uc -us -jauto
	rm -rf $(DEB_SRC)
	lintian --fail-on error --tag-display-limit 0 $(DEB_DIR)/kanal_$(VERSION)_*.changes

check-package: deb
	tests/package/check.sh $(DEB_DIR) $(BUILD)/debootstrap

# ---- end of the Debian packages ----
