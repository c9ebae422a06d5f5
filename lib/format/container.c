/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Container magics, from each format's own specification (qcow2, VMDK, VDI, VHDX, VHD, QED, Ceph
 * RBD). */
#include <string.h>

#include "base/util.h"
#include "format/container.h"

#define CONVERT "convert it to a raw disk first (qemu-img convert -O raw IMG IMG.raw)"

static const struct container qcow2 = {"qcow2", "a qcow2 image (QEMU's format)", CONVERT, true,
				       false};
static const struct container qcow2_luks = {
    "qcow2", "QEMU's encrypted qcow2 (encrypt.format=luks)",
    "vmcrypt opens it as an encrypted image (dump, keyslots, decrypt)", false, true};
static const struct container qcow2_aes = {
    "qcow2", "a qcow2 image with the legacy AES encryption (crypt_method 1)",
    "that method is broken and deprecated: qemu-img convert it to a LUKS image", false, false};
static const struct container qcow = {"qcow", "a qcow (version 1) image", CONVERT, true, false};
static const struct container qed = {"qed", "a QED image (QEMU's enhanced disk)", CONVERT, true,
				     false};
static const struct container vmdk = {"vmdk", "a VMDK image (VMware's format)", CONVERT, true,
				      false};
static const struct container vmdk_desc = {
    "vmdk", "a VMDK descriptor (its data is in the extent files it names)",
    "give its flat extent file (IMG-flat.vmdk) as the raw disk, or " CONVERT, true, false};
static const struct container vdi = {"vdi", "a VDI image (VirtualBox's format)", CONVERT, true,
				     false};
static const struct container vhdx = {"vhdx", "a VHDX image (Hyper-V's format)", CONVERT, true,
				      false};
static const struct container vpc = {"vpc", "a VHD image (Virtual PC and Azure's format)", CONVERT,
				     true, false};
static const struct container rbd_layered = {
    "rbd", "a Ceph RBD layered-clone encryption header (RBDL)",
    "its data depends on the parent image it was cloned from: flatten it first (rbd "
    "flatten), then export it over NBD (rbd-nbd) or as a file (rbd export)",
    false, false};

static bool at(const uint8_t *buf, size_t len, size_t off, const void *magic, size_t n)
{
	return len >= off + n && memcmp(buf + off, magic, n) == 0;
}

const struct container *container_probe(const uint8_t *buf, size_t len)
{
	/* qcow and qcow2: "QFI\xfb", then the version; qcow2's crypt_method at 32. */
	if (at(buf, len, 0, "QFI\xfb", 4) && len >= 36) {
		uint32_t version = load_be32(buf + 4);
		uint32_t crypt = load_be32(buf + 32);
		if (version == 1)
			return &qcow;
		return crypt == 2 ? &qcow2_luks : crypt == 1 ? &qcow2_aes : &qcow2;
	}
	if (at(buf, len, 0, "QED\0", 4))
		return &qed;
	/* VMDK: a sparse extent ("KDMV"), an ESX COW disk ("COWD"), or a text descriptor. */
	if (at(buf, len, 0, "KDMV", 4) || at(buf, len, 0, "COWD", 4))
		return &vmdk;
	if (at(buf, len, 0, "# Disk DescriptorFile", 21))
		return &vmdk_desc;
	/* VDI: the signature 0xbeda107f (little-endian) after the 64-byte text banner. */
	if (at(buf, len, 0x40, "\x7f\x10\xda\xbe", 4))
		return &vdi;
	if (at(buf, len, 0, "vhdxfile", 8))
		return &vhdx;
	/* VHD: a dynamic or differencing disk keeps a copy of its footer at the start. */
	if (at(buf, len, 0, "conectix", 8))
		return &vpc;
	if (at(buf, len, 0, "RBDL\xba\xbe", 6))
		return &rbd_layered;
	return NULL;
}
