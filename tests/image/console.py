#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Boot a raw disk image under QEMU and drive its serial console (vmcrypt image tests).

As a module: Console(image, log).start(); expect(regex, timeout); send_line(text);
send_secret_file(path); wait_poweroff(timeout); close(). As a command, the steps come
from the command line, so shell tests need no expect(1):

    console.py --image IMG --log LOG STEP...
    console.py --object SECRET --blockdev JSON... --log LOG STEP...
      expect REGEX SECONDS     wait for REGEX (Python re, over ANSI-stripped text)
      refute REGEX             fail if REGEX was seen since the previous expect
      send TEXT                type TEXT and Enter (not for secrets: argv is visible)
      send-file FILE           type the bytes of FILE and Enter (a passphrase file)
      poweroff SECONDS         wait for the guest to power off (QEMU exits 0)
      kill                     cut the power now (QEMU killed)

--blockdev (repeatable; libvirt's -blockdev form, nodes in order, the format node last)
attaches the last node as the boot disk (virtio-blk-pci, bootindex 1) instead of --image;
--object (repeatable) adds QEMU objects, e.g. the secret a node names (QEMU creates
objects such as secrets before block nodes, wherever they stand on the command line).

Each step prints its elapsed time. A timeout prints the last 40 console lines and exits 1.
Environment: VMC_VM_ACCEL=kvm|tcg (default: tests/vm/cache/accel-verdict, else tcg),
VMC_VM_MEM (MiB, default 1024), QEMU (the binary, default qemu-system-x86_64).
"""

import json
import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VERDICT = os.path.join(HERE, "..", "vm", "cache", "accel-verdict")
ANSI = re.compile(rb"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[@-Z\\-_])")


class ConsoleError(Exception):
    pass


def accelerator():
    """kvm or tcg: the environment, then the tests/vm verdict (KVM hangs here), else tcg."""
    accel = os.environ.get("VMC_VM_ACCEL", "")
    if accel in ("kvm", "tcg"):
        return accel, "VMC_VM_ACCEL"
    try:
        with open(os.environ.get("VMC_VM_VERDICT", VERDICT)) as f:
            lines = f.read().splitlines()
        if len(lines) >= 2 and lines[1] in ("kvm", "tcg"):
            return lines[1], "tests/vm verdict: " + (lines[2] if len(lines) > 2 else "")
    except OSError:
        pass
    return "tcg", "default (no verdict)"


class Console:
    def __init__(self, image, log, mem=None, smp=2, extra=(), drive=None):
        self.image = image
        self.drive = drive  # QEMU arguments attaching the disk, instead of -drive image
        self.log_path = log
        self.mem = mem or int(os.environ.get("VMC_VM_MEM", "1024"))
        self.smp = smp
        self.extra = list(extra)
        self.proc = None
        self.raw = bytearray()
        self.lock = threading.Condition()
        self.pos = 0  # in the cleaned text: where the next expect starts
        self.last_pos = 0  # where the previous expect started (for refute)
        self.eof = False
        self.t0 = time.monotonic()

    def command(self):
        accel, why = accelerator()
        self.accel_note = f"{accel} ({why})"
        cpu = ["-accel", "kvm", "-cpu", "host"] if accel == "kvm" else ["-accel", "tcg", "-cpu", "max"]
        qemu = os.environ.get("QEMU", "qemu-system-x86_64")
        # The serial port on our stdin/stdout (pipes); no monitor there, so no byte of
        # what we type is taken as a monitor escape. The image through a symbolic link
        # would avoid QEMU's comma syntax; we refuse commas instead.
        drive = self.drive
        if drive is None:
            if "," in self.image:
                raise ConsoleError(f"{self.image}: a comma in the path is not supported")
            drive = ["-drive",
                     f"file={self.image},format={self.fmt},if=virtio,cache=unsafe,discard=unmap"]
        return [qemu, "-machine", "pc", *cpu, "-m", str(self.mem), "-smp", str(self.smp),
                "-nographic", "-monitor", "none", "-serial", "stdio", "-nic", "none",
                "-no-reboot", *drive, *self.extra]

    def start(self):
        cmd = self.command()
        self.log = open(self.log_path, "ab")
        self.log.write(f"\n==== {time.ctime()} {' '.join(cmd)}\n".encode())
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, bufsize=0)
        self.t0 = time.monotonic()
        threading.Thread(target=self._reader, daemon=True).start()
        self.note(f"qemu started, accelerator {self.accel_note}")

    def _reader(self):
        while True:
            chunk = self.proc.stdout.read(4096)
            with self.lock:
                if not chunk:
                    self.eof = True
                    self.lock.notify_all()
                    return
                self.raw += chunk
                self.log.write(chunk)
                self.log.flush()
                self.lock.notify_all()

    def elapsed(self):
        return time.monotonic() - self.t0

    def note(self, msg):
        print(f"[{self.elapsed():7.1f}s] {msg}", flush=True)

    def text(self):
        return ANSI.sub(b"", bytes(self.raw)).replace(b"\r", b"").decode("utf-8", "replace")

    def tail(self, n=40):
        lines = self.text().splitlines()[-n:]
        return "\n".join("  | " + line for line in lines)

    def fail(self, msg):
        sys.stdout.write(f"[{self.elapsed():7.1f}s] FAIL: {msg}\n--- last 40 console lines "
                         f"(all in {self.log_path}):\n{self.tail()}\n---\n")
        sys.stdout.flush()
        raise ConsoleError(msg)

    def expect(self, regex, timeout):
        """Wait for regex after the previous match; return the match."""
        pattern = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                m = pattern.search(self.text(), self.pos)
                if m:
                    self.last_pos, self.pos = self.pos, m.end()
                    self.note(f"seen /{regex}/: {m.group(0).strip()[:100]!r}")
                    return m
                if self.eof:
                    self.fail(f"QEMU exited (status {self.proc.wait()}) before /{regex}/ was seen")
                left = deadline - time.monotonic()
                if left <= 0:
                    self.fail(f"timeout: /{regex}/ not seen within {timeout} s")
                self.lock.wait(min(left, 1.0))

    def refute(self, regex):
        """Fail if regex occurs between the start of the previous expect and its match."""
        with self.lock:
            m = re.compile(regex).search(self.text()[self.last_pos:self.pos])
        if m:
            self.fail(f"/{regex}/ was seen: {m.group(0).strip()[:100]!r}")
        self.note(f"not seen /{regex}/ (good)")

    def _type(self, data):
        # A serial line at human speed: the guest's tty reads what we send into its
        # line buffer; small chunks keep the emulated UART's FIFO from overflowing.
        for i in range(0, len(data), 8):
            self.proc.stdin.write(data[i:i + 8])
            self.proc.stdin.flush()
            time.sleep(0.02)

    def send_line(self, text):
        self.note(f"send {text!r}")
        self._type(text.encode() + b"\n")

    def send_secret_file(self, path):
        with open(path, "rb") as f:
            data = f.read()
        if b"\n" in data or b"\r" in data:
            raise ConsoleError(f"{path}: a newline in a passphrase file cannot be typed")
        self.note(f"send the contents of {path}")
        self._type(data + b"\n")

    def wait_poweroff(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"timeout: the guest did not power off within {timeout} s")
        if rc != 0:
            self.fail(f"QEMU exited with status {rc}")
        self.note("powered off")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.note("power cut (QEMU killed)")

    def close(self):
        self.kill()
        if getattr(self, "log", None):
            self.log.close()


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image")
    ap.add_argument("--blockdev", action="append", metavar="JSON",
                    help="a -blockdev node (JSON); the last one is the boot disk")
    ap.add_argument("--object", action="append", metavar="SPEC", help="a QEMU -object")
    ap.add_argument("--format", default="raw", help="the image's format (qemu's name)")
    ap.add_argument("--log", required=True)
    ap.add_argument("--mem", type=int)
    ap.add_argument("--smp", type=int, default=2)
    ap.add_argument("--uefi", metavar="VARS",
                    help="boot with OVMF; VARS: a writable copy of OVMF_VARS_4M.fd")
    ap.add_argument("steps", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    if bool(args.image) == bool(args.blockdev):
        ap.error("give one of --image and --blockdev")
    arity = {"expect": 2, "refute": 1, "send": 1, "send-file": 1, "poweroff": 1, "kill": 0}
    steps, s = [], list(args.steps)
    while s:
        verb = s.pop(0)
        if verb not in arity or len(s) < arity[verb]:
            ap.error(f"bad step {verb!r}")
        steps.append((verb, [s.pop(0) for _ in range(arity[verb])]))
    extra = []
    if args.uefi:
        code = os.environ.get("VMC_OVMF_CODE", "/usr/share/OVMF/OVMF_CODE_4M.fd")
        extra = ["-drive", f"if=pflash,format=raw,readonly=on,file={code}",
                 "-drive", f"if=pflash,format=raw,file={args.uefi}"]
    extra += [a for o in args.object or [] for a in ("-object", o)]
    drive = None
    if args.blockdev:
        drive = [a for b in args.blockdev for a in ("-blockdev", b)]
        try:
            node = json.loads(args.blockdev[-1])["node-name"]
        except (ValueError, KeyError, TypeError):
            ap.error("the last --blockdev is not a JSON object with a node-name")
        drive += ["-device", json.dumps({"driver": "virtio-blk-pci", "drive": node,
                                         "id": "virtio-disk0", "bootindex": 1})]
    con = Console(args.image, args.log, mem=args.mem, smp=args.smp, extra=extra, drive=drive)
    con.fmt = args.format
    try:
        con.start()
        for verb, a in steps:
            if verb == "expect":
                con.expect(a[0], float(a[1]))
            elif verb == "refute":
                con.refute(a[0])
            elif verb == "send":
                con.send_line(a[0])
            elif verb == "send-file":
                con.send_secret_file(a[0])
            elif verb == "poweroff":
                con.wait_poweroff(float(a[0]))
            elif verb == "kill":
                con.kill()
    except ConsoleError:
        return 1
    finally:
        con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
