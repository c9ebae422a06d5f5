#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs a command on a pseudo-terminal, as a user at a keyboard would, and types a
passphrase whenever the command asks for one; prints the whole terminal transcript
(what the user saw, including any echo) and exits with the command's status.

  pty-run.py PASSFILE CMD ARGS...
"""
import os
import pty
import select
import sys
import time


def main():
    with open(sys.argv[1], "rb") as f:
        secret = f.read()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[2], sys.argv[2:])
    out = b""
    answered = 0  # length of the transcript up to the last prompt answered
    deadline = time.time() + 120
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break  # EIO: the command closed the terminal
            if not data:
                break
            out += data
        # A prompt: the last line mentions the passphrase (or key) and waits after ':'.
        line = out[answered:].rsplit(b"\n", 1)[-1]
        if line.rstrip().endswith(b":") and (b"passphrase" in line.lower() or
                                             b"key" in line.lower()):
            # Prompts turn echo off with TCSAFLUSH, which drops input typed too early.
            time.sleep(0.5)
            os.write(fd, secret + b"\n")
            answered = len(out)
            out += b"<typed>"
            answered = len(out)
    _, status = os.waitpid(pid, 0)
    sys.stdout.buffer.write(out)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
