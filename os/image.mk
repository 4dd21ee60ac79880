# The OS image (included by the Makefile). `make image` builds the x86-64 disk image from the
# package list, the overlay and moat's own build; each step is redone only when its inputs
# changed (stamp files under $(BUILD)/os). `make check-vm` boots it in QEMU (tests/vm/).
#
#   step     what                                              redone when       measured
#   base     tree/compose (mmdebstrap, dracut) + tree/commit   os/packages,      45-80 s
#            base: ref base/ARCH in the build repo             os/kernel, dracut
#   os       tree/layer + tree/commit os: moat over the base,  moat's build,     under 1 s
#            signed; tree/publish: archive repo, delta, summary os/overlay       + 10-30 s
#   image    os/mkimage-x86_64: qcow2 and raw.zst              any of the above  35-50 s

OS_ARCH ?= x86_64
OS_DIR := $(BUILD)/os/$(OS_ARCH)
# The build host's repo (bare): base commits and the OS commits made over them.
OS_BUILD_REPO := $(BUILD)/os/repo-build
# What is published: an archive repo of plain files for any web server.
OS_REPO := $(BUILD)/os/repo
OS_REF := os/$(OS_ARCH)/stable
# The OS signing key; a throwaway one is made under $(BUILD) when none is given.
OS_KEY ?= $(BUILD)/os/keys/os.secret
OS_PUBKEY ?= $(OS_KEY:.secret=.pub)
OS_VERSION ?= $(shell date -u +%Y.%m%d.%H%M%S)
OS_REMOTE ?= file:///var/lib/moat/os-updates
IMAGE_DIR := $(BUILD)/image
IMAGE := $(IMAGE_DIR)/moat-$(OS_ARCH)

OS_OVERLAY_FILES := $(shell find os/overlay os/overlay-$(OS_ARCH) os/grub -type f 2>/dev/null) os/README.md \
	$(wildcard docs/*.md)

.PHONY: image check-vm

image: $(IMAGE).qcow2

$(OS_KEY):
	@mkdir -p $(dir $@)
	$(BUILD)/moat-sign keygen $@ $(OS_PUBKEY)

$(OS_DIR)/base.stamp: os/packages/$(OS_ARCH).list os/kernel/$(OS_ARCH).exclude os/dracut/moat.conf \
		tree/compose tree/trim-modules \
		tree/var-to-tmpfiles tree/commit
	@mkdir -p $(OS_DIR)
	tree/compose $(OS_ARCH) $(OS_DIR)/rootfs
	tree/commit base $(OS_ARCH) $(OS_DIR)/rootfs $(OS_BUILD_REPO)
	@touch $@

$(OS_DIR)/os.stamp: $(OS_DIR)/base.stamp $(BUILD)/moatd $(BUILD)/moat $(BUILD)/moat-init \
		$(BUILD)/moat-sign $(OS_KEY) $(OS_OVERLAY_FILES) tree/layer tree/commit tree/publish
	MOAT_OS_PUBKEY=$(OS_PUBKEY) MOAT_OS_REMOTE=$(OS_REMOTE) \
		tree/layer $(OS_ARCH) $(BUILD) $(OS_DIR)/layer
	MOAT_SIGN=$(BUILD)/moat-sign \
		tree/commit os $(OS_ARCH) $(OS_DIR)/layer $(OS_BUILD_REPO) $(OS_KEY) $(OS_VERSION)
	MOAT_SIGN=$(BUILD)/moat-sign tree/publish $(OS_BUILD_REPO) $(OS_REPO) $(OS_REF) $(OS_KEY)
	@rm -rf $(OS_DIR)/layer
	@touch $@

$(IMAGE).qcow2: $(OS_DIR)/os.stamp os/mkimage-x86_64 os/image/x86_64.sfdisk
	@mkdir -p $(IMAGE_DIR)
	os/mkimage-x86_64 $(OS_BUILD_REPO) $(OS_REF) $(IMAGE)

check-vm: image
	tests/vm/run $(IMAGE).qcow2
