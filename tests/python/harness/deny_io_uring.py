#!/usr/bin/python3
"""deny_io_uring.py PROGRAM [ARG...]: exec PROGRAM under a seccomp filter that makes
io_uring_setup fail with EPERM, as Docker's default profile does. The harness tests run the
real io_uring production_server through it to see the real exit 3 ("backend cannot run
here") without needing a sandbox."""
import ctypes
import os
import struct
import sys

EPERM, NR_IO_URING_SETUP = 1, 425           # x86_64 and aarch64 share the number


def deny_io_uring_setup() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    insns = [
        (0x20, 0, 0, 0),                                # ld  [nr]
        (0x15, 0, 1, NR_IO_URING_SETUP),                # jeq io_uring_setup
        (0x06, 0, 0, 0x00050000 | EPERM),               # ret ERRNO(EPERM)
        (0x06, 0, 0, 0x7fff0000),                       # ret ALLOW
    ]
    prog = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in insns))
    fprog = ctypes.create_string_buffer(struct.pack("HxxxxxxQ", len(insns), ctypes.addressof(prog)))
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: deny_io_uring.py PROGRAM [ARG...]")
    deny_io_uring_setup()
    os.execv(sys.argv[1], sys.argv[1:])
