#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the audit fixture trees in tests/audit/fixtures (committed; rerun after editing this file).
# Each tree is a small copy of a host's /proc, /sys, /etc, /var and /home; `expect` lists
# "CHECK STATUS [SUBJECT-SUBSTRING]" lines that test_audit checks against vmcrypt's results.
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")


def w(tree, path, data, mode=0o644):
    full = os.path.join(OUT, tree, "root", path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(full, "wb") as f:
        f.write(data)
    os.chmod(full, mode)


def link(tree, path, target):
    full = os.path.join(OUT, tree, "root", path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    os.symlink(target, full)


def keep(tree, path):
    w(tree, path + "/.keep", "")


def expect(tree, lines):
    with open(os.path.join(OUT, tree, "expect"), "w") as f:
        f.write("# CHECK STATUS [SUBJECT-SUBSTRING]; written by make-fixtures.py\n")
        f.write("\n".join(lines) + "\n")


def extra(tree, name, data):
    with open(os.path.join(OUT, tree, name), "w") as f:
        f.write(data)


def limits(soft):
    return ("Limit                     Soft Limit           Hard Limit           Units     \n"
            "Max cpu time              unlimited            unlimited            seconds   \n"
            f"Max core file size        {soft:<21}unlimited            bytes     \n"
            "Max open files            1024                 1048576              files     \n")


SWAPS_HDR = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
LUKS_IMAGE = b"LUKS\xba\xbe\x00\x02" + bytes(4096 - 8)


def mbr_with_luks_partition():
    mbr = bytearray(512)
    # one partition, type 0x83, starting at LBA 8 (byte 4096), 1 sector long
    mbr[446:462] = bytes([0, 0, 0, 0, 0x83, 0, 0, 0]) + struct.pack("<II", 8, 1)
    mbr[510:512] = b"\x55\xaa"
    return bytes(mbr) + bytes(4096 - 512) + LUKS_IMAGE[:512]


def plain_mbr_disk():
    mbr = bytearray(512)
    mbr[446:462] = bytes([0, 0, 0, 0, 0x83, 0, 0, 0]) + struct.pack("<II", 8, 1)
    mbr[510:512] = b"\x55\xaa"
    return bytes(mbr) + bytes(4096 - 512) + b"\x53\xef" + bytes(510)


def qcow2(crypt):
    hdr = bytearray(104)
    hdr[0:4] = b"QFI\xfb"
    hdr[4:8] = struct.pack(">I", 3)
    hdr[32:36] = struct.pack(">I", 2 if crypt else 0)
    return bytes(hdr)


def qcow2_snapshots(snaps, size=1 << 20):
    """A qcow2 v3 image (512-byte clusters: header, refcount table, L1 table, then the
    snapshot table) whose snapshot table lists (name, vm_state_size) pairs."""
    cs = 512
    l1_size = -(-size // (cs // 8 * cs))
    hdr = bytearray(cs)
    hdr[0:4] = b"QFI\xfb"
    struct.pack_into(">I", hdr, 4, 3)
    struct.pack_into(">I", hdr, 20, 9)
    struct.pack_into(">Q", hdr, 24, size)
    struct.pack_into(">IQQI", hdr, 36, l1_size, 2 * cs, cs, 1)
    struct.pack_into(">IQ", hdr, 60, len(snaps), 3 * cs)
    struct.pack_into(">II", hdr, 96, 4, 104)
    table = b""
    for i, (name, vm_state) in enumerate(snaps):
        ident = str(i + 1).encode()
        table += struct.pack(">QIHHIIQII", 0, 0, len(ident), len(name), 1700000000, 0, 0,
                             vm_state & 0xffffffff, 16)
        table += struct.pack(">QQ", vm_state, size) + ident + name.encode()
        table += bytes(-len(table) % 8)
    return bytes(hdr) + bytes(cs) + bytes(cs) + table


MOUNTS = ("/dev/sda1 / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n"
          "tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0\n"
          "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n"
          "tmpfs /run tmpfs rw,nosuid,nodev 0 0\n")

CAREFUL_MEM = ("  <memory unit='KiB' dumpCore='off'>1048576</memory>\n"
               "  <memoryBacking>%s<locked/><nosharepages/></memoryBacking>\n")


def argv(*args):
    return b"\0".join(a.encode() for a in args) + b"\0"


def domain(name, body, devices):
    return (f"<domain type='kvm'>\n  <name>{name}</name>\n{body}"
            f"  <devices>\n{devices}  </devices>\n</domain>\n")


def common_sysfs(t):
    w(t, "/proc/sys/kernel/osrelease", "6.1.0-test-amd64\n")
    w(t, "/sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n")


# ---------------------------------------------------------------- pass
def tree_pass():
    t = "pass"
    common_sysfs(t)
    w(t, "/proc/swaps", SWAPS_HDR +
      "/dev/mapper/cswap                       partition\t1048572\t\t0\t\t-2\n"
      "/dev/zram0                              partition\t4194300\t\t0\t\t100\n")
    w(t, "/sys/block/dm-0/dm/name", "cswap\n")
    w(t, "/sys/block/dm-0/dm/uuid", "CRYPT-PLAIN-cswap\n")
    keep(t, "/sys/block/sda")
    w(t, "/etc/crypttab", "# <target name> <source device> <key file> <options>\n"
      "cswap /dev/disk/by-partuuid/1234 /dev/urandom swap,cipher=aes-xts-plain64,size=512\n")
    w(t, "/sys/module/zswap/parameters/enabled", "N\n")
    w(t, "/sys/power/state", "freeze mem\n")
    w(t, "/sys/power/disk", "[platform] shutdown reboot suspend test_resume\n")
    w(t, "/proc/sys/kernel/core_pattern",
      "|/lib/systemd/systemd-coredump %P %u %g %s %t 9223372036854775808 %h\n")
    w(t, "/etc/systemd/coredump.conf", "[Coredump]\n#Storage=external\n")
    w(t, "/etc/systemd/coredump.conf.d/50-vmcrypt.conf", "[Coredump]\nStorage=none\n")
    w(t, "/proc/sys/fs/suid_dumpable", "0\n")
    w(t, "/proc/self/limits", limits("0"))
    w(t, "/sys/kernel/kexec_crash_loaded", "0\n")
    w(t, "/sys/module/pstore/parameters/backend", "efi\n")
    keep(t, "/sys/fs/pstore")
    w(t, "/proc/cmdline", "BOOT_IMAGE=/vmlinuz-6.1.0 root=/dev/mapper/root ro init_on_free=1 quiet\n")
    w(t, "/sys/kernel/mm/ksm/run", "0\n")
    w(t, "/sys/kernel/mm/ksm/pages_shared", "0\n")
    # libvirt
    w(t, "/etc/libvirt/qemu.conf", "# dump_guest_core = 1\ndump_guest_core = 0\n")
    w(t, "/etc/default/libvirt-guests", "ON_BOOT=ignore\nON_SHUTDOWN=shutdown\n")
    w(t, "/usr/lib/systemd/system/libvirt-guests.service", "[Unit]\n")
    keep(t, "/var/lib/libvirt/qemu/save")
    keep(t, "/var/lib/libvirt/qemu/dump")
    w(t, "/var/lib/libvirt/qemu/snapshot/dom1/disk-only.xml",
      "<domainsnapshot><name>disk-only</name><state>disk-snapshot</state>"
      "<memory snapshot='no'/></domainsnapshot>\n")
    w(t, "/var/lib/libvirt/images/guestfde.img", LUKS_IMAGE)
    w(t, "/var/lib/libvirt/images/partitioned.img", mbr_with_luks_partition())
    w(t, "/var/lib/libvirt/images/enc.qcow2", qcow2(True))
    w(t, "/etc/libvirt/qemu/dom1.xml", domain(
        "dom1",
        "  <memory unit='KiB' dumpCore='off'>1048576</memory>\n"
        "  <memoryBacking><locked/><nosharepages/></memoryBacking>\n"
        "  <on_crash>destroy</on_crash>\n",
        "    <disk type='file' device='disk'>\n"
        "      <driver name='qemu' type='raw'/>\n"
        "      <source file='/var/lib/libvirt/images/luks1.img'>\n"
        "        <encryption format='luks'><secret type='passphrase' uuid='0b8bd3a8'/></encryption>\n"
        "      </source>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n"
        "    <disk type='file' device='disk'>\n"
        "      <source file='/var/lib/libvirt/images/guestfde.img'/>\n"
        "      <target dev='vdb' bus='virtio'/>\n    </disk>\n"
        "    <disk type='file' device='disk'>\n"
        "      <source file='/var/lib/libvirt/images/partitioned.img'/>\n"
        "      <target dev='vdc' bus='virtio'/>\n    </disk>\n"
        "    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n"
        "      <source file='/var/lib/libvirt/images/enc.qcow2'/>\n"
        "      <target dev='vdd' bus='virtio'/>\n    </disk>\n"
        "    <disk type='file' device='cdrom'>\n"
        "      <source file='/var/lib/libvirt/images/install.iso'/>\n"
        "      <target dev='sda' bus='sata'/>\n    </disk>\n"
        "    <memballoon model='none'/>\n"))
    # a running QEMU, started the careful way (libvirt-style -blockdev JSON)
    w(t, "/proc/4242/cmdline", argv(
        "/usr/bin/qemu-system-x86_64", "-name", "guest=dom1,debug-threads=on",
        "-machine", "pc-q35-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram",
        "-overcommit", "mem-lock=on", "-m", "1024", "-nodefaults",
        "-object", '{"qom-type":"secret","id":"libvirt-1-format-encryption-secret0","format":"base64","file":"/var/lib/libvirt/qemu/x"}',
        "-blockdev", '{"driver":"file","filename":"/var/lib/libvirt/images/luks1.img","node-name":"libvirt-1-storage","auto-read-only":true}',
        "-blockdev", '{"node-name":"libvirt-1-format","read-only":false,"driver":"luks","key-secret":"libvirt-1-format-encryption-secret0","file":"libvirt-1-storage"}',
        "-device", '{"driver":"virtio-blk-pci","bus":"pci.3","drive":"libvirt-1-format","id":"virtio-disk0"}',
        "-drive", "file=/var/lib/libvirt/images/guestfde.img,format=raw,if=virtio"))
    w(t, "/proc/4243/cmdline", argv("/bin/bash", "-l"))
    w(t, "/home/alice/VirtualBox VMs/vm1/vm1.vbox", "<VirtualBox/>\n")
    w(t, "/etc/xen/xl.conf", 'autoballoon="off"\n')
    w(t, "/etc/xen/guest.cfg", 'name = "guest"\nmemory = 1024\nmaxmem = 1024\n')
    extra(t, "domain-extra.xml", domain(
        "extra", "  <memory dumpCore='off'>1</memory>\n  <memoryBacking><locked/><nosharepages/></memoryBacking>\n",
        "    <disk type='network' device='disk'>\n"
        "      <source protocol='rbd' name='pool/img'><encryption format='luks'/></source>\n"
        "      <target dev='vda'/>\n    </disk>\n    <memballoon model='none'/>\n"))
    expect(t, [
        "swap PASS /dev/mapper/cswap",
        "swap PASS /dev/zram0",
        "zswap PASS",
        "hibernation PASS",
        "core-pattern PASS systemd-coredump",
        "suid-dumpable PASS",
        "core-limit PASS",
        "kdump PASS",
        "pstore PASS",
        "init-on-free PASS",
        "ksm PASS",
        "libvirt-guests PASS",
        "libvirt-dump-guest-core PASS",
        "libvirt-save-format WARN",
        "libvirt-managed-save PASS",
        "libvirt-snapshot-memory PASS",
        "libvirt-dumps PASS",
        "domain-balloon PASS domain dom1",
        "domain-balloon PASS domain extra",
        "domain-memory-locked PASS domain dom1",
        "domain-memory-locked PASS domain extra",
        "domain-nosharepages PASS",
        "domain-dump-core PASS",
        "domain-on-crash PASS",
        "domain-disk PASS vda (/var/lib/libvirt/images/luks1.img)",
        "domain-disk PASS vdb (/var/lib/libvirt/images/guestfde.img)",
        "domain-disk PASS vdc (/var/lib/libvirt/images/partitioned.img)",
        "domain-disk PASS vdd (/var/lib/libvirt/images/enc.qcow2)",
        "domain-disk PASS domain extra disk vda",
        "qemu-dump-guest-core PASS pid 4242 (dom1)",
        "qemu-mem-lock PASS pid 4242",
        "qemu-balloon PASS pid 4242",
        "qemu-disk PASS disk /var/lib/libvirt/images/luks1.img",
        "qemu-disk PASS disk /var/lib/libvirt/images/guestfde.img",
        "virtualbox PASS",
        "xen PASS",
        "xen-domain-balloon PASS",
    ])


# ---------------------------------------------------------------- warn
def tree_warn():
    t = "warn"
    common_sysfs(t)
    w(t, "/proc/swaps", SWAPS_HDR + "/dev/dm-1                               partition\t8388604\t\t0\t\t-2\n")
    w(t, "/sys/block/dm-1/dm/name", "vg0-swap\n")
    w(t, "/sys/block/dm-1/dm/uuid", "LVM-abcdef\n")
    keep(t, "/sys/block/dm-1/slaves/dm-0")
    w(t, "/sys/block/dm-0/dm/name", "luks-root\n")
    w(t, "/sys/block/dm-0/dm/uuid", "CRYPT-LUKS2-0123456789abcdef-luks-root\n")
    w(t, "/etc/crypttab", "luks-root UUID=0123 none luks,discard\n")
    w(t, "/sys/module/zswap/parameters/enabled", "Y\n")
    w(t, "/sys/power/state", "freeze mem disk\n")
    w(t, "/etc/systemd/sleep.conf", "[Sleep]\nAllowHibernation=no\nAllowHybridSleep=no\n")
    w(t, "/etc/systemd/sleep.conf.d/10-nothen.conf", "[Sleep]\nAllowSuspendThenHibernate=no\n")
    w(t, "/proc/sys/kernel/core_pattern", "core\n")
    w(t, "/proc/sys/fs/suid_dumpable", "2\n")
    w(t, "/proc/self/limits", limits("0"))
    w(t, "/sys/kernel/kexec_crash_loaded", "0\n")
    w(t, "/sys/fs/pstore/dmesg-efi-168000000001", "Oops\n")
    w(t, "/sys/module/pstore/parameters/backend", "efi\n")
    w(t, "/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/mapper/vg0-root ro crashkernel=256M init_on_alloc=1 quiet\n")
    w(t, "/sys/kernel/mm/ksm/run", "1\n")
    w(t, "/sys/kernel/mm/ksm/pages_shared", "0\n")
    w(t, "/etc/libvirt/qemu.conf", "#save_image_format = \"raw\"\nsave_image_format = \"zstd\"\n")
    w(t, "/usr/lib/systemd/system/libvirt-guests.service", "[Unit]\n")
    w(t, "/var/lib/libvirt/images/plain.qcow2", qcow2(False))
    w(t, "/etc/libvirt/qemu/web.xml", domain(
        "web", "  <memory unit='KiB'>1048576</memory>\n  <on_crash>restart</on_crash>\n",
        "    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n"
        "      <source file='/var/lib/libvirt/images/plain.qcow2'/>\n"
        "      <target dev='vda' bus='virtio'/>\n    </disk>\n"
        "    <disk type='network' device='disk'>\n"
        "      <source protocol='nbd'><host transport='unix' socket='/run/vmcrypt.sock'/></source>\n"
        "      <target dev='vdb' bus='virtio'/>\n    </disk>\n"))
    w(t, "/proc/777/cmdline", argv(
        "qemu-system-x86_64", "-machine", "q35,accel=kvm", "-machine", "dump-guest-core=off",
        "-m", "2G", "-device", "virtio-balloon-pci,id=balloon0",
        "-drive", "file=nbd+unix:///?socket=/run/vmcrypt.sock,format=raw,if=virtio"))
    w(t, "/etc/xen/xl.conf", "# autoballoon=\"auto\"\nlockfile=\"/var/lock/xl\"\n")
    expect(t, [
        "swap WARN /dev/dm-1",
        "zswap WARN",
        "hibernation PASS",
        "core-pattern WARN core",
        "suid-dumpable WARN",
        "core-limit PASS",
        "kdump WARN",
        "pstore WARN",
        "init-on-free WARN",
        "ksm WARN",
        "libvirt-guests WARN",
        "libvirt-dump-guest-core PASS",
        "libvirt-save-format WARN",
        "libvirt-managed-save PASS",
        "libvirt-snapshot-memory PASS",
        "libvirt-dumps PASS",
        "domain-balloon WARN domain web",
        "domain-memory-locked WARN domain web",
        "domain-nosharepages WARN domain web",
        "domain-dump-core PASS domain web",
        "domain-on-crash PASS domain web",
        "domain-disk WARN vda (/var/lib/libvirt/images/plain.qcow2)",
        "domain-disk WARN vdb (nbd:",
        "qemu-dump-guest-core PASS pid 777",
        "qemu-mem-lock WARN pid 777",
        "qemu-balloon WARN pid 777",
        "qemu-disk WARN nbd+unix",
        "virtualbox SKIP",
        "xen WARN",
    ])


# ---------------------------------------------------------------- warn2: conflicts with warn
def tree_warn2():
    t = "warn2"
    common_sysfs(t)
    w(t, "/proc/swaps", SWAPS_HDR)
    w(t, "/sys/power/state", "freeze mem disk\n")
    w(t, "/sys/power/disk", "[platform] shutdown reboot suspend\n")
    w(t, "/proc/sys/kernel/core_pattern", "|/usr/share/apport/apport -p%p -s%s -c%c -d%d -P%P -u%u -g%g -- %E\n")
    w(t, "/etc/default/apport", "# set this to 0 to disable apport\nenabled=0\n")
    w(t, "/proc/self/limits", limits("unlimited"))
    w(t, "/proc/cmdline", "root=/dev/vda1 ro page_poison=1\n")
    w(t, "/proc/1/cmdline", argv("/sbin/init"))
    w(t, "/proc/900/cmdline", argv("/usr/bin/qemu-system-aarch64", "-M", "virt,dump-guest-core=off",
                                   "-realtime", "mlock=on", "-hda", "disk.luks"))
    link(t, "/proc/900/cwd", "/srv/vm")
    w(t, "/srv/vm/disk.luks", LUKS_IMAGE)
    extra(t, "domain-tenant.xml",
          "<domstatus state='running' reason='booted' pid='1'>\n  <monitor path='/x' type='unix'/>\n" +
          domain("tenant", "  <memory dumpCore='off'>1</memory>\n",
                 "    <disk type='volume' device='disk'>\n      <source pool='default' volume='t.img'/>\n"
                 "      <target dev='vda'/>\n    </disk>\n    <memballoon model='virtio'/>\n") +
          "</domstatus>\n")
    expect(t, [
        "swap PASS",
        "zswap SKIP",
        "hibernation WARN",
        "core-pattern PASS apport",
        "core-limit WARN",
        "init-on-free PASS",
        "ksm SKIP",
        "libvirt SKIP",
        "domain-balloon WARN domain tenant",
        "domain-memory-locked PASS domain tenant",
        "domain-disk WARN domain tenant disk vda",
        "qemu-dump-guest-core PASS pid 900",
        "qemu-mem-lock PASS pid 900",
        "qemu-disk PASS disk disk.luks",
        "xen SKIP",
    ])


# ---------------------------------------------------------------- fail
def tree_fail():
    t = "fail"
    common_sysfs(t)
    w(t, "/proc/swaps", SWAPS_HDR +
      "/dev/sda3                               partition\t8388604\t\t1024\t\t-2\n"
      "/swap\\040file                           file\t\t2097148\t\t0\t\t-3\n")
    w(t, "/proc/mounts", "/dev/sda1 / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n")
    keep(t, "/sys/block/sda")
    w(t, "/sys/module/zswap/parameters/enabled", "Y\n")
    w(t, "/sys/power/state", "freeze mem disk\n")
    w(t, "/sys/power/disk", "platform [shutdown] reboot suspend\n")
    w(t, "/proc/sys/kernel/core_pattern",
      "|/lib/systemd/systemd-coredump %P %u %g %s %t 9223372036854775808 %h\n")
    w(t, "/etc/systemd/coredump.conf", "[Coredump]\nStorage=external\nCompress=yes\n")
    w(t, "/proc/sys/fs/suid_dumpable", "1\n")
    w(t, "/proc/self/limits", limits("unlimited"))
    w(t, "/sys/kernel/kexec_crash_loaded", "1\n")
    w(t, "/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro resume=/dev/sda3 crashkernel=384M-:256M quiet\n")
    w(t, "/boot/config-6.1.0-test-amd64", "CONFIG_INIT_ON_ALLOC_DEFAULT_ON=n\n# CONFIG_INIT_ON_FREE_DEFAULT_ON is not set\n")
    w(t, "/sys/kernel/mm/ksm/run", "1\n")
    w(t, "/sys/kernel/mm/ksm/pages_shared", "1234\n")
    w(t, "/etc/libvirt/qemu.conf", "dump_guest_core = 1\nauto_dump_path = \"/var/crash/libvirt\"\n")
    w(t, "/etc/default/libvirt-guests", "# URIS=default\n#ON_SHUTDOWN=suspend\n")
    w(t, "/usr/lib/systemd/system/libvirt-guests.service", "[Unit]\n")
    link(t, "/etc/systemd/system/multi-user.target.wants/libvirt-guests.service",
         "/usr/lib/systemd/system/libvirt-guests.service")
    w(t, "/var/lib/libvirt/qemu/save/db.save", b"LibvirtQemudSave" + bytes(64))
    w(t, "/var/lib/libvirt/qemu/snapshot/db/before-upgrade.xml",
      "<domainsnapshot><name>before-upgrade</name><state>running</state>"
      "<memory snapshot='internal'/></domainsnapshot>\n")
    w(t, "/var/lib/libvirt/qemu/snapshot/db/old.xml",
      "<domainsnapshot><name>old</name><state>paused</state></domainsnapshot>\n")
    w(t, "/var/crash/libvirt/1700000000-db.core", b"\x7fELF")
    w(t, "/var/lib/libvirt/images/db.img", plain_mbr_disk())
    w(t, "/etc/libvirt/qemu/db.xml", domain(
        "db",
        "  <memory unit='KiB' dumpCore='on'>4194304</memory>\n  <on_crash>coredump-destroy</on_crash>\n",
        "    <disk type='file' device='disk'>\n      <driver name='qemu' type='raw'/>\n"
        "      <source file='/var/lib/libvirt/images/db.img'/>\n"
        "      <target dev='vda' bus='virtio'/>\n    </disk>\n"
        "    <memballoon model='virtio'>\n      <address type='pci'/>\n    </memballoon>\n"))
    w(t, "/proc/31337/cmdline", argv(
        "/usr/bin/qemu-system-x86_64", "-enable-kvm", "-m", "4096",
        "-drive", "file=/var/lib/libvirt/images/db.img,format=raw,if=virtio",
        "-nographic"))
    w(t, "/home/bob/VirtualBox VMs/win10/win10.vbox", "<VirtualBox/>\n")
    w(t, "/home/bob/VirtualBox VMs/win10/Snapshots/{6f7c0b6a-0d29-4a3c-9a4e-1f2b3c4d5e6f}.sav", b"\0" * 16)
    w(t, "/home/bob/.config/VirtualBox/VirtualBox.xml",
      "<?xml version='1.0'?>\n<VirtualBox xmlns='http://www.virtualbox.org/' version='1.12-linux'>\n"
      " <Global>\n  <MachineRegistry>\n"
      "   <MachineEntry uuid='{1}' src='/srv/vbox/lab/lab.vbox'/>\n"
      "   <MachineEntry uuid='{2}' src='/home/bob/VirtualBox VMs/win10/win10.vbox'/>\n"
      "  </MachineRegistry>\n  <SystemProperties defaultMachineFolder='/home/bob/VirtualBox VMs'/>\n"
      " </Global>\n</VirtualBox>\n")
    w(t, "/srv/vbox/lab/lab.vbox", "<VirtualBox/>\n")
    w(t, "/srv/vbox/lab/2024-01-02T03-04-05-678901000Z.sav", b"\0" * 16)
    w(t, "/etc/xen/xl.conf", 'autoballoon = 1\n')
    w(t, "/etc/xen/tenant.cfg", 'name = "tenant"\nmemory = 512\nmaxmem = 2048\n')
    expect(t, [
        "swap FAIL /dev/sda3",
        "swap FAIL /swap file",
        "zswap WARN",
        "hibernation FAIL",
        "core-pattern FAIL systemd-coredump",
        "suid-dumpable FAIL",
        "core-limit WARN",
        "kdump FAIL",
        "pstore PASS",
        "init-on-free FAIL",
        "ksm FAIL",
        "libvirt-guests FAIL",
        "libvirt-dump-guest-core FAIL",
        "libvirt-save-format WARN",
        "libvirt-managed-save FAIL /var/lib/libvirt/qemu/save/db.save",
        "libvirt-snapshot-memory FAIL before-upgrade.xml",
        "libvirt-snapshot-memory FAIL old.xml",
        "libvirt-dumps FAIL /var/crash/libvirt/1700000000-db.core",
        "domain-balloon WARN domain db",
        "domain-memory-locked FAIL domain db",
        "domain-nosharepages WARN domain db",
        "domain-dump-core FAIL domain db",
        "domain-on-crash FAIL domain db",
        "domain-disk FAIL vda (/var/lib/libvirt/images/db.img)",
        "qemu-dump-guest-core FAIL pid 31337",
        "qemu-mem-lock FAIL pid 31337",
        "qemu-balloon PASS pid 31337",
        "qemu-disk FAIL /var/lib/libvirt/images/db.img",
        "virtualbox FAIL Snapshots/{6f7c0b6a-0d29-4a3c-9a4e-1f2b3c4d5e6f}.sav",
        "virtualbox FAIL /srv/vbox/lab/2024-01-02T03-04-05-678901000Z.sav",
        "xen FAIL",
        "xen-domain-balloon FAIL /etc/xen/tenant.cfg",
    ])


# ---------------------------------------------------------------- ram-careful
# Where guest RAM may reach a disk (issue 18), the careful forms of each: memfd, huge pages,
# files on tmpfs, disk-only snapshots, an incoming migration over TCP, core_pattern |/bin/false.
def tree_ram_careful():
    t = "ram-careful"
    common_sysfs(t)
    w(t, "/proc/mounts", MOUNTS)
    w(t, "/proc/sys/kernel/core_pattern", "|/bin/false\n")
    w(t, "/proc/self/limits", limits("0"))
    w(t, "/proc/cmdline", "root=/dev/sda1 ro init_on_free=1\n")
    w(t, "/etc/libvirt/qemu.conf", 'memory_backing_dir = "/dev/shm/libvirt-ram"\n')
    keep(t, "/var/lib/libvirt/qemu/save")
    w(t, "/var/lib/libvirt/qemu/snapshot/memfd/disk-only.xml",
      "<domainsnapshot><name>disk-only</name><memory snapshot='no'/></domainsnapshot>\n")
    w(t, "/var/lib/libvirt/images/snap.qcow2", qcow2_snapshots([("before-upgrade", 0)]))
    fs = ("    <filesystem type='mount' accessmode='passthrough'>\n"
          "      <driver type='virtiofs'/>\n      <source dir='/srv/share'/>\n"
          "      <target dir='share'/>\n    </filesystem>\n")
    w(t, "/etc/libvirt/qemu/memfd.xml", domain(
        "memfd", CAREFUL_MEM % "<source type='memfd'/><access mode='shared'/>",
        fs + "    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n"
        "      <source file='/var/lib/libvirt/images/snap.qcow2'/>\n"
        "      <target dev='vda' bus='virtio'/>\n    </disk>\n"
        "    <memballoon model='virtio'/>\n"))
    w(t, "/etc/libvirt/qemu/filetmp.xml", domain(
        "filetmp", CAREFUL_MEM % "<source type='file'/><access mode='shared'/>",
        fs + "    <memory model='nvdimm' access='shared'>\n      <source><path>/dev/shm/nvdimm0</path></source>\n"
        "      <target><size unit='KiB'>524288</size></target>\n    </memory>\n"
        "    <memballoon model='none'/>\n"))
    w(t, "/etc/libvirt/qemu/huge.xml", domain(
        "huge", CAREFUL_MEM % "<hugepages/><source type='file'/>", "    <memballoon model='none'/>\n"))
    w(t, "/proc/5001/cmdline", argv(
        "/usr/bin/qemu-system-x86_64", "-name", "guest=memfd", "-machine", "q35,dump-guest-core=off",
        "-overcommit", "mem-lock=on", "-object",
        '{"qom-type":"memory-backend-memfd","id":"pc.ram","size":1073741824,"share":true}',
        "-chardev", "socket,id=chr0,path=/run/vfs.sock",
        "-device", "vhost-user-fs-pci,chardev=chr0,tag=share",
        "-incoming", "tcp:0:4444",
        "-drive", "file=/var/lib/libvirt/images/snap.qcow2,format=qcow2,if=virtio"))
    w(t, "/proc/5002/cmdline", argv(
        "qemu-system-x86_64", "-machine", "dump-guest-core=off", "-overcommit", "mem-lock=on",
        "-object", "memory-backend-file,id=mem0,size=1G,mem-path=/dev/shm/guest.ram,share=on",
        "-machine", "memory-backend=mem0", "-global", "migration.x-postcopy-ram=on"))
    w(t, "/proc/5003/cmdline", argv(
        "qemu-system-x86_64", "-machine", "dump-guest-core=off", "-overcommit", "mem-lock=on",
        "-m", "1G", "-mem-path", "/dev/hugepages"))
    expect(t, [
        "core-pattern PASS /bin/false",
        "init-on-free PASS",
        "libvirt-snapshot-memory PASS",
        "libvirt-managed-save PASS",
        "domain-memory-backing PASS domain memfd",
        "domain-memory-backing PASS domain filetmp",
        "domain-memory-backing PASS domain huge",
        "domain-memory-device PASS domain filetmp",
        "domain-virtiofs PASS domain memfd",
        "domain-virtiofs PASS domain filetmp",
        "domain-disk-snapshots PASS domain memfd disk vda",
        "domain-balloon WARN domain memfd",
        "domain-balloon PASS domain filetmp",
        "domain-balloon PASS domain huge",
        "qemu-memory-backend PASS pid 5001",
        "qemu-memory-backend PASS pid 5002 (qemu) mem0 (/dev/shm/guest.ram)",
        "qemu-memory-backend PASS pid 5003 (qemu) -mem-path (/dev/hugepages)",
        "qemu-incoming PASS pid 5001",
        "qemu-migration PASS",
        "qemu-virtiofs PASS pid 5001",
        "qemu-disk-snapshots PASS pid 5001",
    ])


# ---------------------------------------------------------------- ram-leaky
# The same paths, leaking: guest RAM in files on disk (shared and private mappings), memory
# snapshots inside a qcow2 and in an external file, a VM started from a state file, live RAM
# snapshots, a DAX window; core_pattern |/usr/bin/true (safe too).
def tree_ram_leaky():
    t = "ram-leaky"
    common_sysfs(t)
    w(t, "/proc/mounts", MOUNTS)
    w(t, "/proc/sys/kernel/core_pattern", "|/usr/bin/true\n")
    w(t, "/proc/self/limits", limits("0"))
    w(t, "/proc/cmdline", "root=/dev/sda1 ro\n")
    w(t, "/etc/libvirt/qemu.conf", "# memory_backing_dir = \"/var/lib/libvirt/qemu/ram\"\n")
    keep(t, "/var/lib/libvirt/qemu/ram")
    w(t, "/var/lib/libvirt/qemu/save/fileshared.save", b"LibvirtQemudSave" + bytes(3 * 1024 * 1024))
    w(t, "/var/lib/libvirt/qemu/snapshot/fileshared/live.xml",
      "<domainsnapshot><name>live</name><state>running</state>"
      "<memory snapshot='external' file='/var/lib/libvirt/images/live.mem'/></domainsnapshot>\n")
    w(t, "/var/lib/libvirt/images/live.mem", bytes(2 * 1024 * 1024))
    w(t, "/var/lib/libvirt/images/state.qcow2",
      qcow2_snapshots([("disk-only", 0), ("s1", 465204), ("big", 5 << 30)]))
    fs = ("    <filesystem type='mount' accessmode='passthrough'>\n"
          "      <driver type='virtiofs'/>\n      <source dir='/srv/share'/>\n"
          "      <target dir='share'/>\n    </filesystem>\n")
    w(t, "/etc/libvirt/qemu/fileshared.xml", domain(
        "fileshared", CAREFUL_MEM % "<source type='file'/><access mode='shared'/>",
        fs + "    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n"
        "      <source file='/var/lib/libvirt/images/state.qcow2'/>\n"
        "      <target dev='vda' bus='virtio'/>\n    </disk>\n"
        "    <memory model='virtio-pmem' access='shared'>\n      <source><path>/var/lib/pmem.img</path></source>\n"
        "      <target><size unit='KiB'>524288</size></target>\n    </memory>\n"
        "    <memballoon model='none'/>\n"))
    w(t, "/etc/libvirt/qemu/fileprivate.xml", domain(
        "fileprivate", CAREFUL_MEM % "<source type='file'/>", "    <memballoon model='none'/>\n"))
    w(t, "/proc/6001/cmdline", argv(
        "qemu-system-x86_64", "-machine", "dump-guest-core=off", "-overcommit", "mem-lock=on",
        "-object", "memory-backend-file,id=ram0,size=1G,mem-path=/var/tmp/guest.ram,share=on",
        "-machine", "memory-backend=ram0",
        "-incoming", "exec:cat /var/lib/vm/state.mig",
        "-device", "vhost-user-fs-pci,chardev=c0,tag=t,cache-size=2G",
        "-drive", "file=/var/lib/libvirt/images/state.qcow2,if=virtio"))
    w(t, "/proc/6002/cmdline", argv(
        "/usr/bin/qemu-system-x86_64", "-name", "guest=fileprivate", "-machine", "dump-guest-core=off",
        "-overcommit", "mem-lock=on", "-object",
        '{"qom-type":"memory-backend-file","id":"pc.ram","mem-path":"/var/lib/libvirt/qemu/ram/1-fileprivate/pc.ram","share":false,"size":1073741824}',
        "-incoming", "fd:23", "-global", "migration.x-background-snapshot=on"))
    w(t, "/proc/6003/cmdline", argv("qemu-system-x86_64", "-m", "512", "-mem-path", "ram"))
    link(t, "/proc/6003/cwd", "/var/tmp")
    expect(t, [
        "core-pattern PASS /usr/bin/true",
        "libvirt-managed-save FAIL /var/lib/libvirt/qemu/save/fileshared.save",
        "libvirt-snapshot-memory FAIL live.xml",
        "domain-memory-backing FAIL domain fileshared",
        "domain-memory-backing WARN domain fileprivate",
        "domain-memory-device FAIL domain fileshared",
        "domain-virtiofs FAIL domain fileshared",
        "domain-disk-snapshots FAIL domain fileshared disk vda",
        "domain-balloon PASS",
        "qemu-memory-backend FAIL pid 6001 (qemu) ram0 (/var/tmp/guest.ram)",
        "qemu-memory-backend WARN pid 6002 (fileprivate) pc.ram",
        "qemu-memory-backend WARN pid 6003 (qemu) -mem-path (/var/tmp/ram)",
        "qemu-incoming FAIL pid 6001",
        "qemu-incoming WARN pid 6002",
        "qemu-migration PASS pid 6001",
        "qemu-migration PASS pid 6003",
        "qemu-migration WARN pid 6002",
        "qemu-virtiofs WARN pid 6001",
        "qemu-disk-snapshots FAIL pid 6001",
    ])


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    for tree in (tree_pass, tree_warn, tree_warn2, tree_fail, tree_ram_careful, tree_ram_leaky):
        tree()


main()
