# Moat OS. `make` builds the runtime; `make check` installs what the tests need and runs every
# tier that this machine can run; see README.md.

BUILD ?= build
CC ?= cc
PKG_CONFIG ?= pkg-config

LIB_PKGS := glib-2.0 libseccomp libselinux libacl libsodium ostree-1
# Unit tests read the configs the library writes back with json-glib; no program links it.
TEST_PKGS := $(LIB_PKGS) json-glib-1.0

WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wno-unused-parameter -Wno-missing-field-initializers
ifeq ($(SANITIZE),1)
HARDEN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
HARDEN := -D_FORTIFY_SOURCE=3 -fstack-protector-strong
endif
ifeq ($(CI),true)
WARN += -Werror
endif

CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) $(HARDEN) -fPIE $(CFLAGS) \
	-iquote runtime/lib $(shell $(PKG_CONFIG) --cflags $(LIB_PKGS))
LDFLAGS_ALL := -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(HARDEN) $(LDFLAGS)
LIB_LIBS := $(shell $(PKG_CONFIG) --libs $(LIB_PKGS))
TEST_CFLAGS := $(shell $(PKG_CONFIG) --cflags json-glib-1.0)
TEST_LIBS := $(shell $(PKG_CONFIG) --libs $(TEST_PKGS))

LIB_SRCS := $(wildcard runtime/lib/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
MOATD_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard runtime/moatd/*.c))
MOAT_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard runtime/moat/*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test-*.c))
# Static programs that run inside sandboxes (tests) or are bound into them (moat-init).
STATIC_BINS := $(BUILD)/moat-init $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(wildcard tests/integration/*.c))

PROGRAMS := $(BUILD)/moatd $(BUILD)/moat $(BUILD)/moat-init $(BUILD)/moat-sign $(BUILD)/moat-bundle

.PHONY: all deps demo demo-host check check-unit check-integration check-sanitize fuzz bench format format-check lint demo clean install

all: $(PROGRAMS)

deps:
	ci/install-deps

$(BUILD)/%.o: %.c $(wildcard runtime/lib/*.h runtime/moat/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libmoat.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/moatd: $(MOATD_OBJS) $(BUILD)/libmoat.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIB_LIBS)

$(BUILD)/moat: $(MOAT_OBJS) $(BUILD)/libmoat.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIB_LIBS)

# Build-host tools (tree/): thin mains over the same library.
$(BUILD)/moat-sign: $(BUILD)/tree/moat-sign/main.o $(BUILD)/libmoat.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIB_LIBS)

$(BUILD)/moat-bundle: $(BUILD)/tree/moat-bundle/main.o $(BUILD)/libmoat.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIB_LIBS)

# moat-init and the test programs are linked statically so they run inside any root.
$(BUILD)/moat-init: $(wildcard runtime/moat-init/*.c runtime/moat-init/*.h)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) -O2 -g -static -o $@ $(filter %.c,$^)

$(BUILD)/tests/%: tests/integration/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) -O1 -g -static -o $@ $<

$(BUILD)/tests/test-%: $(BUILD)/tests/unit/test-%.o $(BUILD)/libmoat.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(TEST_LIBS)

$(BUILD)/tests/unit/%.o: tests/unit/%.c $(wildcard runtime/lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -DSRCDIR=\"$(CURDIR)\" -c -o $@ $<

$(BUILD)/rootfs-busybox/.stamp: tests/integration/make-rootfs $(STATIC_BINS)
	tests/integration/make-rootfs $(BUILD)/rootfs-busybox
	@touch $@

# Host tiers first, then the VM tier (it builds the OS image once, or reuses it: os/image.mk).
check: deps
	$(MAKE) format-check lint
	$(MAKE) all-tests
	tests/run $(BUILD) unit integration
	$(MAKE) check-vm

all-tests: $(PROGRAMS) $(UNIT_BINS) $(STATIC_BINS) $(BUILD)/rootfs-busybox/.stamp

check-unit: deps all-tests
	tests/run $(BUILD) unit

check-integration: deps all-tests
	tests/run $(BUILD) integration

check-sanitize: deps
	$(MAKE) BUILD=build-asan SANITIZE=1 all-tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		tests/run build-asan unit integration

FUZZ_SECONDS ?= 60
fuzz: deps
	@mkdir -p $(BUILD)/fuzz/corpus $(BUILD)/fuzz/corpus-bundle $(BUILD)/fuzz/corpus-bootenv
	clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -iquote runtime/lib \
		$(shell $(PKG_CONFIG) --cflags $(LIB_PKGS)) -o $(BUILD)/fuzz/fuzz-manifest \
		tests/fuzz/fuzz-manifest.c $(LIB_SRCS) $(LIB_LIBS)
	clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -iquote runtime/lib \
		$(shell $(PKG_CONFIG) --cflags $(LIB_PKGS)) -o $(BUILD)/fuzz/fuzz-bundle \
		tests/fuzz/fuzz-bundle.c $(LIB_SRCS) $(LIB_LIBS)
	clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -iquote runtime/lib \
		$(shell $(PKG_CONFIG) --cflags $(LIB_PKGS)) -o $(BUILD)/fuzz/fuzz-bootenv \
		tests/fuzz/fuzz-bootenv.c $(LIB_SRCS) $(LIB_LIBS)
	@# Each fuzzer's last lines are shown; a crash still fails the target.
	$(BUILD)/fuzz/fuzz-manifest -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
		-artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus tests/fuzz/corpus \
		>$(BUILD)/fuzz/manifest.log 2>&1; rc=$$?; tail -n 5 $(BUILD)/fuzz/manifest.log; exit $$rc
	@# Bundles: -max_len above the largest seed (tests/fuzz/corpus-bundle, a few KiB).
	$(BUILD)/fuzz/fuzz-bundle -max_total_time=$(FUZZ_SECONDS) -max_len=20480 \
		-artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus-bundle tests/fuzz/corpus-bundle \
		>$(BUILD)/fuzz/bundle.log 2>&1; rc=$$?; tail -n 5 $(BUILD)/fuzz/bundle.log; exit $$rc
	@# The boot counter's files: GRUB's block is 1024 bytes, U-Boot's at most 4096.
	$(BUILD)/fuzz/fuzz-bootenv -max_total_time=$(FUZZ_SECONDS) -max_len=4200 \
		-artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus-bootenv tests/fuzz/corpus-bootenv \
		>$(BUILD)/fuzz/bootenv.log 2>&1; rc=$$?; tail -n 5 $(BUILD)/fuzz/bootenv.log; exit $$rc

bench: deps all-tests
	tests/bench/run $(BUILD)

# The main job, as a person watches it: build the OS image, boot it in QEMU, install the
# example bundles from a "USB stick", upgrade the OS from it, reboot, roll back (tests/demo-vm).
# The demo boots the x86-64 image only; `make image` builds the arm64 one too.
demo: deps all-tests $(BUILD)/image/moat-x86_64.qcow2
	tests/demo-vm
# The sandbox part alone, on this host (no image, no VM).
demo-host: deps all-tests
	tests/demo $(BUILD)

SOURCES = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || find runtime tests -name '*.[ch]')
format:
	clang-format -i $(SOURCES)

format-check:
	@clang-format --dry-run --Werror $(SOURCES) && echo "format-check: clean"

# cppcheck does not expand GLib's definition macros; they only declare cleanup helpers.
CPPCHECK_DEFS := -D'G_DEFINE_AUTOPTR_CLEANUP_FUNC(a,b)=' -D'G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(a,b)=' \
	-D'G_DEFINE_AUTO_CLEANUP_FREE_FUNC(a,b,c)=' -D'G_DEFINE_QUARK(a,b)=' -D'G_GNUC_PRINTF(a,b)='
lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		--suppress=missingIncludeSystem -Iruntime/lib -D_GNU_SOURCE $(CPPCHECK_DEFS) runtime
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		--suppress=missingIncludeSystem -Iruntime/lib -D_GNU_SOURCE $(CPPCHECK_DEFS) tree \
		sandboxes/thermostat/src
	shellcheck -x ci/install-deps .ci/run tests/run tests/demo tests/integration/*.sh \
		tests/integration/make-rootfs tests/bench/run tests/bench/net-run tests/bench/boot-bench \
		sandboxes/build sandboxes/rootfs.sh sandboxes/*/build-rootfs \
		tree/compose tree/commit tree/layer tree/publish tree/trim-modules tree/var-to-tmpfiles tree/selinux \
		os/mkimage os/grub/moat-grub-cfg tests/vm/*.sh tests/vm/aarch64/*.sh tests/vm/run tests/demo-vm \
		os/overlay/usr/lib/systemd/system-generators/moat-upgrade-schedule

clean:
	rm -rf build build-asan

# The OS image and the VM tier; last, so that `all` stays the default goal.
include os/image.mk
