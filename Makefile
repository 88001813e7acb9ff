# nsl — build, install and test.
#
#   make                 the module build/lib/nsl/core.so, the binary build/bin/nsl
#                        build/bin/nsl-monitor (supervises detached containers)
#                        and build/bin/nsl-init (a container's PID 1)
#   make demo            install missing Debian packages, build, run examples/hello.lua
#   make test            the same set-up, then the whole spec suite, as root
#                        (ends with "N passed, N failed")
#   make check-asan      the suite again under AddressSanitizer and UBSan
#   make check-valgrind  100 containers from one script under valgrind (memcheck)
#   make check-vm        the specs of tools/vm/runs under Debian 12's own kernel
#                        (6.1) with a pure cgroup v2 tree, in a QEMU VM (ends
#                        with the guest's "N passed, N failed"; docs/kernels.md)
#   make install         PREFIX=/usr/local DESTDIR= : bin/nsl, libexec/nsl/nsl-{monitor,init},
#                        lib/lua/5.4, share/lua/5.4, share/man/man1/nsl.1
#   make bench           the benchmarks (not tests)

PREFIX  ?= /usr/local
DESTDIR ?=
LUA     ?= lua5.4
BUSTED  ?= /usr/bin/busted
BUILD   ?= build

PKGS    := lua5.4 libnl-3.0 libnl-route-3.0 libcap libseccomp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
# The module takes the Lua API from the interpreter that loads it; only the
# host binary links liblua. The binary links Lua, libnl and libcap
# statically (STATIC=0: as shared libraries): one `nsl run` per container
# then starts without loading and relocating four libraries (about a
# quarter of its start-up; docs/benchmarks.md). -E exports the Lua API to
# the C modules a script may require (lfs, ...), as the lua interpreter does.
STATIC   ?= 1
MOD_LIBS := $(shell pkg-config --libs libnl-3.0 libnl-route-3.0 libcap)
# libseccomp is only in the submodule nsl.seccomp_compile (a .so of its
# own, loaded when a filter is compiled; built into the binary).
SECCOMP_LIBS := $(shell pkg-config --libs libseccomp)
# libarchive and nettle are only in the submodule nsl.archive, a .so that
# is never linked into the binary (libarchive's static dependencies are
# many: zlib, zstd, xz, bz2, lz4, libxml2, acl, ...). The binary finds it
# next to itself (BIN/../lib, BIN/../lib/lua/5.4; src/main.c), and only
# the image paths require it: a plain container never maps libarchive.
ARCHIVE_LIBS := $(shell pkg-config --libs libarchive nettle)
# libcurl is only in the submodule nsl.http (registry pulls), a .so of its
# own for the same reasons: a TLS library, nghttp2, libidn2, ... that a
# plain container never maps.
HTTP_LIBS := $(shell pkg-config --libs libcurl)
ifeq ($(STATIC),1)
BIN_LIBS := -Wl,-E -Wl,-Bstatic -llua5.4 -lnl-route-3 -lnl-3 -lcap -lseccomp -Wl,-Bdynamic -lm -ldl -lpthread
else
BIN_LIBS := $(shell pkg-config --libs $(PKGS))
endif

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wformat-security \
            -Wmissing-prototypes -Wstrict-prototypes -Wpointer-arith \
            -Wwrite-strings -Wundef -Wvla -Wimplicit-fallthrough \
            -Wno-unused-parameter
# CFLAGS, CPPFLAGS and LDFLAGS are the user's to set; what the build needs
# is added to them. SANITIZE adds -fsanitize=... to compiling and linking.
CFLAGS   ?= -O2 -g
CPPFLAGS ?= -D_FORTIFY_SOURCE=2
LDFLAGS  ?= -Wl,-z,relro,-z,now
SANITIZE ?=
NSL_CFLAGS := -std=gnu11 -fPIC -fno-strict-aliasing -fstack-protector-strong \
            $(WARNINGS) -Iinclude -Isrc -I$(BUILD) $(PKG_CFLAGS) $(CFLAGS) $(SANITIZE)
NSL_LDFLAGS := $(LDFLAGS) $(SANITIZE)

CORE_SRC := $(filter-out src/main.c src/monitor.c src/init.c src/seccomp_compile.c src/archive.c src/http.c,$(wildcard src/*.c))
CORE_OBJ := $(CORE_SRC:src/%.c=$(BUILD)/obj/%.o)
LUA_SRC  := $(shell find lua -name '*.lua' | sort)
HEADERS  := $(wildcard include/*.h src/*.h)

MODULE   := $(BUILD)/lib/nsl/core.so
SECCOMP_MODULE := $(BUILD)/lib/nsl/seccomp_compile.so
ARCHIVE_MODULE := $(BUILD)/lib/nsl/archive.so
HTTP_MODULE := $(BUILD)/lib/nsl/http.so
BINARY   := $(BUILD)/bin/nsl
MONITOR  := $(BUILD)/bin/nsl-monitor
INIT     := $(BUILD)/bin/nsl-init

.PHONY: all docs deps demo test check-asan check-valgrind check-vm install uninstall clean bench examples
all: $(MODULE) $(SECCOMP_MODULE) $(ARCHIVE_MODULE) $(HTTP_MODULE) $(BINARY) $(MONITOR) $(INIT)

# docs/reference.md comes from the doc comments in src/, area by area.
DOC_ORDER := src/ns.c src/uts.c src/mount.c src/proc.c src/caps.c
DOC_SRC   := $(DOC_ORDER) $(filter-out $(DOC_ORDER),$(CORE_SRC))
DOCS_OUT  ?= docs/reference.md
docs:
	$(LUA) tools/refdoc.lua $(DOCS_OUT) $(DOC_SRC)

# Debian packages the build, the tests and the examples need (apt-get, only
# when something is missing).
deps:
	@tools/deps.sh

# The README's first command: set up, build, run a first container.
demo: deps
	$(MAKE) all
	$(BINARY) run examples/hello.lua

$(BUILD)/obj/%.o: src/%.c $(HEADERS) | $(BUILD)/obj
	$(CC) $(CPPFLAGS) $(NSL_CFLAGS) -c -o $@ $<

$(BUILD)/obj $(BUILD)/lib/nsl $(BUILD)/bin:
	mkdir -p $@

$(MODULE): $(CORE_OBJ) | $(BUILD)/lib/nsl
	$(CC) $(NSL_CFLAGS) $(NSL_LDFLAGS) -shared -o $@ $(CORE_OBJ) $(MOD_LIBS)

$(SECCOMP_MODULE): $(BUILD)/obj/seccomp_compile.o | $(BUILD)/lib/nsl
	$(CC) $(NSL_CFLAGS) $(NSL_LDFLAGS) -shared -o $@ $< $(SECCOMP_LIBS)

$(ARCHIVE_MODULE): $(BUILD)/obj/archive.o | $(BUILD)/lib/nsl
	$(CC) $(NSL_CFLAGS) $(NSL_LDFLAGS) -shared -o $@ $< $(ARCHIVE_LIBS)

$(HTTP_MODULE): $(BUILD)/obj/http.o | $(BUILD)/lib/nsl
	$(CC) $(NSL_CFLAGS) $(NSL_LDFLAGS) -shared -o $@ $< $(HTTP_LIBS)

$(BUILD)/embedded.c: $(LUA_SRC) tools/embed.lua | $(BUILD)/obj
	$(LUA) tools/embed.lua $@ lua $(LUA_SRC)

$(BUILD)/obj/embedded.o: $(BUILD)/embedded.c src/embedded.h
	$(CC) $(CPPFLAGS) $(NSL_CFLAGS) -c -o $@ $<

$(BINARY): $(CORE_OBJ) $(BUILD)/obj/main.o $(BUILD)/obj/embedded.o $(BUILD)/obj/seccomp_compile.o | $(BUILD)/bin
	$(CC) $(NSL_CFLAGS) $(NSL_LDFLAGS) -o $@ $^ $(BIN_LIBS)

# The supervisor of detached containers: static and without sanitizers,
# also under check-asan, so that it stays small (it runs as long as its
# container; spec/container/monitor_spec.lua checks that it is static);
# libc.a is in libc6-dev.
$(MONITOR): src/monitor.c | $(BUILD)/bin
	$(CC) $(CPPFLAGS) -std=gnu11 -fstack-protector-strong $(WARNINGS) $(CFLAGS) \
	    -static $(LDFLAGS) -o $@ $<

# A container's init (PID 1 by default with a pid namespace): static and
# small for the same reasons, executed from the host at the end of the
# set-up, so that the init holds no copy of the caller's memory.
$(INIT): src/init.c | $(BUILD)/bin
	$(CC) $(CPPFLAGS) -std=gnu11 -fstack-protector-strong $(WARNINGS) $(CFLAGS) \
	    -static $(LDFLAGS) -o $@ $<

# The suite runs in busted under the freshly built host binary, which has
# the module and the Lua layer built in; spec/support/summary.lua prints
# the closing "N passed, N failed" line.
test: deps
	$(MAKE) all
	NSL_BIN=$(abspath $(BINARY)) $(BINARY) run $(BUSTED) $(SPEC_ARGS)

# The same suite with the core built under ASan and UBSan: every C path
# the specs reach is checked. Leak checking stays off: Lua's own heap is
# still in use when busted exits.
check-asan: deps
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fno-omit-frame-pointer" CPPFLAGS= \
	    SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    NSL_BIN=$(abspath build-asan/bin/nsl) build-asan/bin/nsl run $(BUSTED) $(SPEC_ARGS)

# 100 containers started and ended by one script under valgrind's
# memcheck (tools/valgrind-100.lua): a definite leak or a memory error in
# the core fails. valgrind 3.19 lacks openat2, so this also runs nsl's
# user-space fallback for it (src/fs.c).
check-valgrind: all
	@command -v valgrind >/dev/null || NSL_EXTRA_PACKAGES=valgrind tools/deps.sh
	valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
	    --suppressions=tools/valgrind.supp --trace-children=no -q \
	    $(BINARY) run tools/valgrind-100.lua

# A second kernel and cgroup layout: Debian's current linux-image-cloud-amd64
# (fetched once with apt-get download) boots under QEMU (TCG) with an
# initramfs of this build, mounts a pure cgroup v2 tree and runs the specs
# of tools/vm/runs as root. The cache (kernel, initramfs, console log) is
# $(BUILD)/vm; NSL_VM_RUNS names another list of specs, NSL_VM_LIMIT the
# seconds the guest may take (900).
check-vm: deps
	@command -v qemu-system-x86_64 >/dev/null || NSL_EXTRA_PACKAGES=qemu-system-x86 tools/deps.sh
	$(MAKE) all
	tools/vm/check.sh $(BUILD)

examples: all
	@for f in examples/*.lua; do echo "== $$f"; $(BINARY) run $$f || exit 1; done

bench: all
	$(MAKE) -C bench

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/lua/5.4/nsl \
	    $(DESTDIR)$(PREFIX)/share/lua/5.4/nsl $(DESTDIR)$(PREFIX)/libexec/nsl \
	    $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BINARY) $(DESTDIR)$(PREFIX)/bin/nsl
	install -m 755 $(MONITOR) $(DESTDIR)$(PREFIX)/libexec/nsl/nsl-monitor
	install -m 755 $(INIT) $(DESTDIR)$(PREFIX)/libexec/nsl/nsl-init
	install -m 644 docs/nsl.1 $(DESTDIR)$(PREFIX)/share/man/man1/nsl.1
	install -m 755 $(MODULE) $(DESTDIR)$(PREFIX)/lib/lua/5.4/nsl/core.so
	install -m 755 $(SECCOMP_MODULE) $(DESTDIR)$(PREFIX)/lib/lua/5.4/nsl/seccomp_compile.so
	install -m 755 $(ARCHIVE_MODULE) $(DESTDIR)$(PREFIX)/lib/lua/5.4/nsl/archive.so
	install -m 755 $(HTTP_MODULE) $(DESTDIR)$(PREFIX)/lib/lua/5.4/nsl/http.so
	install -m 644 lua/nsl.lua $(DESTDIR)$(PREFIX)/share/lua/5.4/nsl.lua
	for f in $(filter lua/nsl/%,$(LUA_SRC)); do \
	    install -D -m 644 $$f $(DESTDIR)$(PREFIX)/share/lua/5.4/$${f#lua/} || exit 1; done

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/nsl $(DESTDIR)$(PREFIX)/share/lua/5.4/nsl.lua \
	    $(DESTDIR)$(PREFIX)/share/man/man1/nsl.1
	rm -rf $(DESTDIR)$(PREFIX)/libexec/nsl
	rm -rf $(DESTDIR)$(PREFIX)/lib/lua/5.4/nsl $(DESTDIR)$(PREFIX)/share/lua/5.4/nsl

clean:
	rm -rf build build-asan
