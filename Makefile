# edsmod: `make` builds build/edsmod, `make test` runs the suite, `make demo`
# runs the main job on a bundled example.  `make SANITIZE=1 ...` builds with
# ASan+UBSan into build/san/.  `make CC=clang` works the same.
# Adding a source file: drop it in src/ (core) or cmd/ (front end); the
# wildcards below pick it up.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/edsmod
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=

CC ?= cc
CFLAGS ?= -O2 -g
WARNINGS = -Wall -Wextra -Werror -Wno-missing-field-initializers
ALL_CFLAGS = -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L $(WARNINGS) $(CFLAGS)
LDFLAGS ?=

ifeq ($(SANITIZE),1)
B = build/san
ALL_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
else
B = build
endif
GEN = build/gen

DEPS_STAMP := $(shell scripts/deps build >&2 || echo fail)
ifeq ($(DEPS_STAMP),fail)
$(error scripts/deps could not install the build dependencies)
endif

PROTOS := $(shell find proto -name '*.proto' | sort)
WKT_PROTOS = google/protobuf/any.proto google/protobuf/struct.proto \
	google/protobuf/duration.proto google/protobuf/wrappers.proto \
	google/protobuf/empty.proto google/protobuf/timestamp.proto \
	google/protobuf/field_mask.proto
GEN_C := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS)) \
	$(patsubst %.proto,$(GEN)/%.pb-c.c,$(WKT_PROTOS))
# The gRPC service and health protos are only for edsmod-serve.
SERVE_GEN_C := $(filter $(GEN)/envoygateway/% $(GEN)/grpc/%,$(GEN_C))
CORE_GEN_C := $(filter-out $(SERVE_GEN_C),$(GEN_C))

CORE_SRC := $(sort $(wildcard src/*.c))
CLI_SRC := $(filter-out cmd/serve%.c,$(sort $(wildcard cmd/*.c)))
SERVE_SRC := $(sort $(wildcard cmd/serve*.c))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
CORE_OBJ := $(call obj,$(CORE_SRC)) $(patsubst $(GEN)/%.c,$(B)/obj/gen/%.o,$(CORE_GEN_C))
SERVE_GEN_OBJ := $(patsubst $(GEN)/%.c,$(B)/obj/gen/%.o,$(SERVE_GEN_C))
INCLUDES = -Isrc -I$(GEN)

LIBS = -lprotobuf-c -lyaml -lm -lpthread
GRPC_LIBS = -lgrpc -lgpr -lpthread

.PHONY: all test demo install clean proto check-man bench fuzz unit
all: $(B)/edsmod $(B)/edsmod-serve

$(GEN)/.stamp: $(PROTOS) Makefile
	@rm -rf $(GEN) && mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -Iproto -I/usr/include $(PROTOS:proto/%=%) $(WKT_PROTOS)
	scripts/gen-schema-table $(GEN) > $(GEN)/schema_table.inc
	@touch $@
$(GEN_C): $(GEN)/.stamp
proto: $(GEN)/.stamp

$(B)/obj/gen/%.o: $(GEN)/%.c $(GEN)/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-unused-parameter $(INCLUDES) -c -o $@ $<

$(B)/obj/%.o: %.c $(GEN)/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(INCLUDES) -MMD -MP -c -o $@ $<

$(B)/libedsmod.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/edsmod: $(call obj,$(CLI_SRC)) $(B)/libedsmod.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/edsmod-serve: $(call obj,$(SERVE_SRC) cmd/cli.c) $(SERVE_GEN_OBJ) $(B)/libedsmod.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(GRPC_LIBS)

# The load generator of scripts/loadtest and scripts/bench (not in all).
$(B)/loadgen: scripts/loadgen.c cmd/grpc_absl.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) $(GRPC_LIBS)

# C unit tests: testdata/unit/test_*.c, each its own program.
UNIT_SRC := $(sort $(wildcard testdata/unit/test_*.c))
UNIT_BIN := $(patsubst testdata/unit/%.c,$(B)/unit/%,$(UNIT_SRC))
$(B)/unit/%: testdata/unit/%.c $(B)/libedsmod.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(INCLUDES) -MMD -MP -o $@ $< $(B)/libedsmod.a $(LDFLAGS) $(LIBS)
unit: $(UNIT_BIN)

test: all unit
	@scripts/deps test
	EDSMOD_BUILD=$(CURDIR)/$(B) scripts/run-tests

demo: all
	@echo '$$ edsmod -f testdata/examples/aigateway.edsmod --to json --pretty testdata/examples/eg-cla.binpb' >&2
	@$(B)/edsmod -f testdata/examples/aigateway.edsmod --to json --pretty testdata/examples/eg-cla.binpb

check-man: all
	scripts/check-man

bench: all
	@scripts/deps bench
	scripts/bench

fuzz:
	@scripts/deps fuzz
	scripts/fuzz

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(B)/edsmod $(DESTDIR)$(BINDIR)/edsmod
	install -m 755 $(B)/edsmod-serve $(DESTDIR)$(LIBEXECDIR)/edsmod-serve
	install -m 644 man/edsmod.1 $(DESTDIR)$(MANDIR)/man1/edsmod.1

clean:
	rm -rf build

-include $(shell find $(B)/obj $(B)/unit -name '*.d' 2>/dev/null)
