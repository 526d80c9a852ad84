# FQL build. `make` builds build/fql, build/libfql.a, build/libfql.so and build/fql-sim.
# `make test` runs every test; `make SANITIZE=address,undefined test` does so under the sanitizers.
# `make deps` installs the Debian packages the build and tests need (a no-op when present).

BUILD    ?= build
CC       ?= cc
SANITIZE ?=
WERROR   ?=
PKGS     := libcurl jansson sqlite3 libpcre2-8 libzstd zlib hiredis
# poppler-glib links only into the PDF plugin $(BUILD)/fql-pdf.so (src/io/pdf_poppler.c), which
# libfql loads on the first PDF call, and cairo and libjpeg only into the image plugin
# $(BUILD)/fql-image.so (src/io/image_cairo.c), which media.c loads the first time an image must be
# scaled (src/io/plugin.c): start-up loads neither.
PDF_PKGS := poppler-glib cairo
IMG_PKGS := cairo libjpeg
DEB_PKGS := gcc make re2c lemon pkg-config libcurl4-openssl-dev libjansson-dev libreadline-dev \
            libsqlite3-dev libpcre2-dev libmicrohttpd-dev libssl-dev curl sqlite3 valgrind nodejs npm time \
            libsnappy-dev libzstd-dev zlib1g-dev libpoppler-glib-dev libcairo2-dev libjpeg-dev tmux clang libclang-rt-14-dev \
            chromium redis-server libhiredis-dev

OPT      ?= -O2
CFLAGS   += $(OPT) -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wno-unused-parameter -fPIC -fvisibility=hidden -DFQL_BUILDING \
            -Iinclude -Isrc -I$(BUILD)/gen -MMD -MP -DFQL_STDLIB_DIR=\"$(CURDIR)/stdlib\" \
            -DFQL_PLUGIN_DIR=\"$(abspath $(BUILD))\"
ifneq ($(WERROR),)
CFLAGS   += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
endif
# Recursive (=), and read once per make: on a fresh machine pkg-config and the libraries exist only
# after `make deps`, so the targets that install (test, run, bench) build in a second make that reads
# this file again (see DEPS_THEN below). A link with no libraries found stops with a message
# (NEED_PKGS), not with a thousand undefined references.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl is not linked: src/io/curl_lazy.c loads it on the first transfer (start-up time).
PKG_LIBS   = $(shell pkg-config --libs $(filter-out libcurl,$(PKGS)) 2>/dev/null)
CFLAGS   += $(PKG_CFLAGS)
LIBS_EXTRA := -lsnappy -lreadline -lssl -lcrypto -lm -lpthread -ldl
LIBS      = $(PKG_LIBS) $(LIBS_EXTRA)
NEED_PKGS = $(if $(PKG_LIBS),,$(error pkg-config finds none of: $(PKGS). Run `make deps` first (or `make test`, which does)))

# Objects are rebuilt when the flags change (e.g. switching SANITIZE on or off).
FLAGS_STAMP := $(BUILD)/.flags
$(shell mkdir -p $(BUILD); echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $(FLAGS_STAMP) 2>/dev/null || echo '$(CC) $(CFLAGS) $(LDFLAGS)' > $(FLAGS_STAMP))

# main.c and repl.c (the interactive shell) make the command-line program build/fql, not the library.
LIB_SRC  := $(filter-out src/main.c src/repl.c src/io/pdf_poppler.c src/io/image_cairo.c,$(wildcard src/*.c src/*/*.c))
LIB_OBJ  := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(BUILD)/obj/lexer.o $(BUILD)/obj/parser.o \
            $(BUILD)/obj/tiktoken_ranks.o
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRC))

.PHONY: all deps test test-golden test-unit test-diff run examples clean bench fuzz fuzz-parquet fuzz-pipeline install uninstall embed-example
SIM_BIN  := $(if $(wildcard tests/sim/sim.mk),sim)
all: $(BUILD)/fql $(BUILD)/libfql.a $(BUILD)/libfql.so $(BUILD)/fql-pdf.so $(BUILD)/fql-image.so $(SIM_BIN) $(UNIT_BIN) $(BUILD)/mkpdf $(BUILD)/examples/embed

# nodejs/npm count as present when the commands exist (machines may carry a newer Node.js than Debian's).
# A package counts as present only when installed: `dpkg -s` also succeeds for one removed with its
# configuration kept. curl, node and tmux are called by the test scripts, sqlite3, valgrind and
# redis-server (the shared-state tests start their own) too.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  case $$p in nodejs) command -v node >/dev/null && continue;; npm) command -v npm >/dev/null && continue;; esac; \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q ' installed$$' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  if [ -n "$$SUDO" ] && ! command -v sudo >/dev/null; then \
	    echo "make deps: installing needs root: run \`make deps\` as root (or install sudo), then this command again"; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BUILD)/gen/lexer.c: grammar/lexer.re $(BUILD)/gen/parser.h
	@mkdir -p $(dir $@)
	re2c -W --no-generation-date -o $@ $<

$(BUILD)/gen/parser.c $(BUILD)/gen/parser.h &: grammar/parser.y
	@mkdir -p $(BUILD)/gen
	cp grammar/parser.y $(BUILD)/gen/parser.y
	cd $(BUILD)/gen && lemon -s -T/usr/share/lemon/lempar.c parser.y >/dev/null

$(BUILD)/obj/lexer.o: $(BUILD)/gen/lexer.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -Wno-unused-function -c -o $@ $<
$(BUILD)/obj/parser.o: $(BUILD)/gen/parser.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -Wno-unused-function -Wno-unused-variable -Wno-sign-compare -Wno-shadow -c -o $@ $<

# token_count()'s vocabularies: the npm package tiktoken, pinned with its checksum in
# tools/tiktoken/package-lock.json, is installed into $(BUILD)/npm (tests/runtime/tokenizer.sh compares
# against it too); its ranks become a C source compiled into the library, which then needs no file.
TOK_PKG := $(BUILD)/npm/node_modules/tiktoken/package.json
$(TOK_PKG): tools/tiktoken/package.json tools/tiktoken/package-lock.json
	@mkdir -p $(BUILD)/npm
	cp tools/tiktoken/package.json tools/tiktoken/package-lock.json $(BUILD)/npm/
	cd $(BUILD)/npm && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@
$(BUILD)/gen/tiktoken_ranks.c: tools/tiktoken/gen_ranks.js $(TOK_PKG)
	@mkdir -p $(dir $@)
	node tools/tiktoken/gen_ranks.js $(BUILD)/npm/node_modules/tiktoken $@.tmp && mv $@.tmp $@
$(BUILD)/obj/tiktoken_ranks.o: $(BUILD)/gen/tiktoken_ranks.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: src/%.c $(BUILD)/gen/parser.h $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libfql.a: $(LIB_OBJ)
	rm -f $@; ar rcs $@ $^
$(BUILD)/libfql.so: $(LIB_OBJ)
	$(NEED_PKGS)$(CC) -shared -o $@ $^ $(LDFLAGS) $(LIBS)
$(BUILD)/fql-pdf.so: src/io/pdf_poppler.c src/io/pdf_plugin.h $(FLAGS_STAMP)
	$(CC) $(OPT) -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wmissing-prototypes -Wno-unused-parameter $(if $(WERROR),-Werror) \
	  -fPIC -fvisibility=hidden $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all) \
	  $(shell pkg-config --cflags $(PDF_PKGS)) -shared -o $@ $< $(shell pkg-config --libs $(PDF_PKGS))
$(BUILD)/fql-image.so: src/io/image_cairo.c src/io/image_plugin.h $(FLAGS_STAMP)
	$(CC) $(OPT) -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wmissing-prototypes -Wno-unused-parameter $(if $(WERROR),-Werror) \
	  -fPIC -fvisibility=hidden $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all) \
	  $(shell pkg-config --cflags $(IMG_PKGS)) -shared -o $@ $< $(shell pkg-config --libs $(IMG_PKGS))
$(BUILD)/fql: $(BUILD)/obj/main.o $(BUILD)/obj/repl.o $(BUILD)/libfql.a
	$(NEED_PKGS)$(CC) -o $@ $^ $(LDFLAGS) $(LIBS)
# media_test draws its images with cairo and libjpeg; the library scales them through fql-image.so
$(BUILD)/unit/media_test: UNIT_PKGS = $(IMG_PKGS)
$(BUILD)/unit/media_test: $(BUILD)/fql-image.so
$(BUILD)/unit/%: tests/unit/%.c $(BUILD)/libfql.a $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(if $(UNIT_PKGS),$(shell pkg-config --cflags $(UNIT_PKGS))) -o $@ $< $(BUILD)/libfql.a $(LDFLAGS) $(LIBS) \
	  $(if $(UNIT_PKGS),$(shell pkg-config --libs $(UNIT_PKGS)))

# The PDFs of the document tests are drawn by this program (tests/docs/mkpdf.c), never committed.
$(BUILD)/mkpdf: tests/docs/mkpdf.c $(FLAGS_STAMP)
	$(CC) $(OPT) -g -std=c11 -D_GNU_SOURCE -Wall -Wextra $(if $(WERROR),-Werror) $(shell pkg-config --cflags cairo) -o $@ $< \
	  $(shell pkg-config --libs cairo)

-include tests/sim/sim.mk
$(SIM_OBJS): $(FLAGS_STAMP)

# The test suite: golden tests, C unit tests, the differential test against sqlite3, the simulator.
# `make deps` first, then a second make for the build: it reads this Makefile (and pkg-config) again
# now that the packages are installed. One make for both would link with no libraries on a machine
# that had none when make started.
DEPS_THEN = $(MAKE) --no-print-directory deps && $(MAKE) --no-print-directory

test:
	@$(DEPS_THEN) all
	@bash tests/run.sh $(BUILD)

run:
	@$(DEPS_THEN) all
	@bash examples/run.sh $(BUILD)

# every example script against fql-sim (or the real providers when their keys are set)
examples: all
	bash examples/run.sh $(BUILD) --all

bench:
	@$(DEPS_THEN) all
	@bash bench/relational/run.sh $(BUILD)
	@bash bench/parquet/run.sh $(BUILD)

# Fuzz the lexer and parser with libFuzzer (needs clang): FUZZ_SECONDS=600 make fuzz
FUZZ_SECONDS ?= 120
fuzz: $(BUILD)/libfql.a
	clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -I$(BUILD)/gen \
	  tests/fuzz/fuzz_parse.c src/ast.c src/util.c $(BUILD)/gen/lexer.c $(BUILD)/gen/parser.c -o $(BUILD)/fuzz_parse
	mkdir -p $(BUILD)/fuzz_corpus
	$(BUILD)/fuzz_parse -max_total_time=$(FUZZ_SECONDS) -timeout=5 -dict=tests/fuzz/fql.dict $(BUILD)/fuzz_corpus tests/fuzz/corpus_parse

# Fuzz the Parquet reader: FUZZ_SECONDS=300 make fuzz-parquet
fuzz-parquet: $(BUILD)/libfql.a
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 -D_GNU_SOURCE -DPQ_MAX_ENTRIES='(1u << 20)' \
	  -Iinclude -Isrc -I$(BUILD)/gen $(PKG_CFLAGS) tests/fuzz/fuzz_parquet.c src/io/parquet_read.c src/io/thrift.c \
	  $(BUILD)/libfql.a $(LIBS) $(PKG_LIBS) -o $(BUILD)/fuzz_parquet
	mkdir -p $(BUILD)/fuzz_corpus_parquet
	$(BUILD)/fuzz_parquet -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 $(BUILD)/fuzz_corpus_parquet tests/fuzz/corpus_parquet

# Build the whole-pipeline fuzzer (the library again with clang, coverage and the sanitizers, in
# $(BUILD)-fuzz); tests/fuzz/ci.sh builds it this way and runs it for FUZZ_SECONDS.
FUZZ_BUILD ?= $(BUILD)-fuzz
fuzz-pipeline:
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang SANITIZE=address,undefined OPT='-O1 -fsanitize=fuzzer-no-link' $(FUZZ_BUILD)/libfql.a
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -I$(FUZZ_BUILD)/gen \
	  $(PKG_CFLAGS) tests/fuzz/fuzz_pipeline.c $(FUZZ_BUILD)/libfql.a $(LIBS) -o $(FUZZ_BUILD)/fuzz_pipeline

# `make install PREFIX=DIR`: bin/fql, lib/libfql.{a,so}, include/fql.h, lib/pkgconfig/fql.pc and the
# standard library in share/fql/stdlib, which the installed library looks for there: session.c is
# compiled once more with that path (the build tree's objects keep the source tree's stdlib/).
PREFIX   ?= /usr/local
IPREFIX   = $(abspath $(PREFIX))
IDIR      = $(BUILD)/install
INST_OBJ  = $(filter-out $(BUILD)/obj/session.o $(BUILD)/obj/io/pdf.o,$(LIB_OBJ)) $(IDIR)/session.o $(IDIR)/pdf.o
install: all
	@mkdir -p $(IDIR)
	$(CC) $(CFLAGS) -UFQL_STDLIB_DIR -DFQL_STDLIB_DIR=\"$(IPREFIX)/share/fql/stdlib\" -MF $(IDIR)/session.dep -c -o $(IDIR)/session.o src/session.c
	$(CC) $(CFLAGS) -UFQL_PLUGIN_DIR -DFQL_PLUGIN_DIR=\"$(IPREFIX)/lib/fql\" -MF $(IDIR)/pdf.dep -c -o $(IDIR)/pdf.o src/io/pdf.c
	rm -f $(IDIR)/libfql.a; ar rcs $(IDIR)/libfql.a $(INST_OBJ)
	$(CC) -shared -Wl,-soname,libfql.so -o $(IDIR)/libfql.so $(INST_OBJ) $(LDFLAGS) $(LIBS)
	$(CC) -o $(IDIR)/fql $(BUILD)/obj/main.o $(BUILD)/obj/repl.o $(IDIR)/libfql.a $(LDFLAGS) $(LIBS)
	sed -e 's|@PREFIX@|$(IPREFIX)|' -e 's|@VERSION@|'"$$(sed -n 's/^#define FQL_VERSION "\(.*\)"/\1/p' include/fql.h)"'|' \
	    -e 's|@LIBS_PRIVATE@|$(LIBS)|' fql.pc.in > $(IDIR)/fql.pc
	install -d $(DESTDIR)$(IPREFIX)/bin $(DESTDIR)$(IPREFIX)/lib/pkgconfig $(DESTDIR)$(IPREFIX)/include $(DESTDIR)$(IPREFIX)/share/fql
	install -m 755 $(IDIR)/fql $(DESTDIR)$(IPREFIX)/bin/fql
	install -m 644 $(IDIR)/libfql.a $(DESTDIR)$(IPREFIX)/lib/libfql.a
	install -m 755 $(IDIR)/libfql.so $(DESTDIR)$(IPREFIX)/lib/libfql.so
	install -m 644 include/fql.h $(DESTDIR)$(IPREFIX)/include/fql.h
	install -m 644 $(IDIR)/fql.pc $(DESTDIR)$(IPREFIX)/lib/pkgconfig/fql.pc
	install -d $(DESTDIR)$(IPREFIX)/lib/fql
	install -m 755 $(BUILD)/fql-pdf.so $(DESTDIR)$(IPREFIX)/lib/fql/fql-pdf.so
	install -m 755 $(BUILD)/fql-image.so $(DESTDIR)$(IPREFIX)/lib/fql/fql-image.so
	rm -rf $(DESTDIR)$(IPREFIX)/share/fql/stdlib && cp -R stdlib $(DESTDIR)$(IPREFIX)/share/fql/stdlib

uninstall:
	rm -f $(DESTDIR)$(IPREFIX)/bin/fql $(DESTDIR)$(IPREFIX)/lib/libfql.a $(DESTDIR)$(IPREFIX)/lib/libfql.so \
	      $(DESTDIR)$(IPREFIX)/include/fql.h $(DESTDIR)$(IPREFIX)/lib/pkgconfig/fql.pc
	rm -rf $(DESTDIR)$(IPREFIX)/share/fql $(DESTDIR)$(IPREFIX)/lib/fql

# The embedding example, built against the build tree's library.
embed-example: $(BUILD)/examples/embed
$(BUILD)/examples/embed: examples/embed.c $(BUILD)/libfql.a include/fql.h $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -UFQL_BUILDING -o $@ $< $(BUILD)/libfql.a $(LDFLAGS) $(LIBS)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
