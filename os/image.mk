# The OS images (included by the Makefile). `make image` builds the disk image of each
# architecture in OS_ARCHES from the package lists, the overlay and moat's own build (a cross
# build under $(BUILD)/aarch64 for arm64); each step is redone only when its inputs changed
# (stamp files under $(BUILD)/os/ARCH). `make check-vm` boots them in QEMU (tests/vm/).
#
#   step     what                                              redone when       measured
#   base     tree/compose (mmdebstrap, dracut) + tree/commit   os/packages,      x86_64 45-80 s
#            base: ref base/ARCH in the build repo             os/kernel, dracut arm64 ~4 min
#   os       tree/layer + tree/commit os: moat over the base,  moat's build,     under 1 s
#            signed; tree/publish: archive repo, delta, summary os/overlay       + 10-30 s
#   image    os/mkimage ARCH: qcow2 and raw.zst                any of the above  35-50 s

OS_ARCHES ?= x86_64 aarch64
# The build host's repo (bare): base commits and the OS commits made over them.
OS_BUILD_REPO := $(BUILD)/os/repo-build
# What is published: an archive repo of plain files for any web server, with a ref
# os/ARCH/stable for each architecture.
OS_REPO := $(BUILD)/os/repo
# The OS signing key; a throwaway one is made under $(BUILD) when none is given.
OS_KEY ?= $(BUILD)/os/keys/os.secret
OS_PUBKEY ?= $(OS_KEY:.secret=.pub)
OS_VERSION ?= $(shell date -u +%Y.%m%d.%H%M%S)
OS_REMOTE ?= file:///var/lib/moat/os-updates
IMAGE_DIR := $(BUILD)/image

OS_OVERLAY_FILES = $(shell find os/overlay os/overlay-$(1) os/grub os/uboot -type f 2>/dev/null) \
	os/README.md $(wildcard docs/*.md)

# moat's programs for each image: this build for x86_64, a cross build for arm64.
OS_PROGRAMS_x86_64 := $(BUILD)
OS_PROGRAMS_aarch64 := $(BUILD)/aarch64
CROSS_aarch64 := aarch64-linux-gnu-

.PHONY: image check-vm

image: $(foreach a,$(OS_ARCHES),$(IMAGE_DIR)/moat-$(a).qcow2)

$(OS_KEY):
	@mkdir -p $(dir $@)
	$(BUILD)/moat-sign keygen $@ $(OS_PUBKEY)

$(BUILD)/aarch64/moatd: $(wildcard runtime/*/*.c runtime/*/*.h)
	$(MAKE) BUILD=$(BUILD)/aarch64 CC=$(CROSS_aarch64)gcc PKG_CONFIG=$(CROSS_aarch64)pkg-config \
		$(BUILD)/aarch64/moatd $(BUILD)/aarch64/moat $(BUILD)/aarch64/moat-init

# The image's SELinux module, built with Debian's reference policy headers (selinux-policy-dev).
# The same module serves both architectures.
$(BUILD)/selinux/moat.pp: os/selinux/moat.te os/selinux/moat.fc os/selinux/moat.if
	@rm -rf $(BUILD)/selinux && mkdir -p $(BUILD)/selinux
	cp $^ $(BUILD)/selinux/
	$(MAKE) -s -C $(BUILD)/selinux -f /usr/share/selinux/devel/Makefile moat.pp

# os_rules ARCH: the base, os and image steps of one architecture.
define os_rules
$(BUILD)/os/$(1)/base.stamp: os/packages/common.list os/packages/$(1).list \
		os/kernel/common.exclude os/kernel/$(1).exclude os/dracut/moat.conf os/dracut/$(1).conf \
		tree/compose tree/trim-modules tree/var-to-tmpfiles tree/selinux tree/commit \
		$(BUILD)/selinux/moat.pp
	@mkdir -p $(BUILD)/os/$(1)
	tree/compose $(1) $(BUILD)/os/$(1)/rootfs $(BUILD)/selinux/moat.pp
	tree/commit base $(1) $(BUILD)/os/$(1)/rootfs $(OS_BUILD_REPO)
	@touch $$@

$(BUILD)/os/$(1)/os.stamp: $(BUILD)/os/$(1)/base.stamp $(OS_PROGRAMS_$(1))/moatd $(BUILD)/moat \
		$(BUILD)/moat-init $(BUILD)/moat-sign $(OS_KEY) $(call OS_OVERLAY_FILES,$(1)) \
		tree/layer tree/commit tree/publish
	MOAT_OS_PUBKEY=$(OS_PUBKEY) MOAT_OS_REMOTE=$(OS_REMOTE) \
		tree/layer $(1) $(OS_PROGRAMS_$(1)) $(BUILD)/os/$(1)/layer
	MOAT_SIGN=$(BUILD)/moat-sign \
		tree/commit os $(1) $(BUILD)/os/$(1)/layer $(OS_BUILD_REPO) $(OS_KEY) $(OS_VERSION)
	MOAT_SIGN=$(BUILD)/moat-sign tree/publish $(OS_BUILD_REPO) $(OS_REPO) os/$(1)/stable $(OS_KEY)
	@rm -rf $(BUILD)/os/$(1)/layer
	@touch $$@

$(IMAGE_DIR)/moat-$(1).qcow2: $(BUILD)/os/$(1)/os.stamp os/mkimage os/image/$(1).sfdisk
	@mkdir -p $(IMAGE_DIR)
	MOAT_FIRMWARE_DIR=$(BUILD)/os/$(1)/rootfs.firmware \
		os/mkimage $(1) $(OS_BUILD_REPO) os/$(1)/stable $(IMAGE_DIR)/moat-$(1)
endef
$(foreach a,$(OS_ARCHES),$(eval $(call os_rules,$(a))))

# x86-64 first: its scenarios are the whole of tests/vm; arm64 then boots its own image
# (tests/vm/aarch64).
# Every failure is repeated at the end, where a CI log's tail shows it.
check-vm: image
	@rm -f $(BUILD)/vm-failures
	rc=0; export MOAT_VM_FAILURES=$(BUILD)/vm-failures; \
	tests/vm/run $(IMAGE_DIR)/moat-x86_64.qcow2 || rc=1; \
	tests/vm/run $(IMAGE_DIR)/moat-aarch64.qcow2 tests/vm/aarch64/*.sh || rc=1; \
	if [ -s $(BUILD)/vm-failures ]; then echo "--- VM tier failures ---"; cat $(BUILD)/vm-failures; fi; \
	exit $$rc
