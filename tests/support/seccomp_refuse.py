#!/usr/bin/env python3
"""Runs a command under a seccomp filter that refuses one io_uring system call with EPERM,
as a container runtime's default profile does.

Usage: seccomp_refuse.py setup|enter|register COMMAND [ARGS...]

The io_uring calls have the same numbers on every architecture (425 setup, 426 enter,
427 register). The filter is installed only for x86_64 and aarch64; elsewhere the script
exits 77 with the reason on stderr, so the caller can skip.
"""
import ctypes
import os
import platform
import sys

SYSCALLS = {"setup": 425, "enter": 426, "register": 427}
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1

# Classic BPF opcodes.
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
RET_K = 0x06  # BPF_RET | BPF_K
# Offsets in struct seccomp_data.
NR = 0
ARCH = 4


class SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in SYSCALLS:
        sys.exit("usage: seccomp_refuse.py setup|enter|register COMMAND [ARGS...]")
    machine = platform.machine()
    if machine not in AUDIT_ARCH:
        print(f"seccomp_refuse.py: no filter for architecture {machine}", file=sys.stderr)
        sys.exit(77)
    nr = SYSCALLS[sys.argv[1]]
    program = [
        SockFilter(LD_W_ABS, 0, 0, ARCH),
        # Another architecture's calls (a 32-bit binary, say): allow.
        SockFilter(JEQ_K, 1, 0, AUDIT_ARCH[machine]),
        SockFilter(RET_K, 0, 0, SECCOMP_RET_ALLOW),
        SockFilter(LD_W_ABS, 0, 0, NR),
        SockFilter(JEQ_K, 0, 1, nr),
        SockFilter(RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
        SockFilter(RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    filters = (SockFilter * len(program))(*program)
    prog = SockFprog(len(program), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        err = ctypes.get_errno()
        print(f"seccomp_refuse.py: PR_SET_NO_NEW_PRIVS failed: {os.strerror(err)}", file=sys.stderr)
        sys.exit(77)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
        err = ctypes.get_errno()
        print(f"seccomp_refuse.py: installing the filter failed: {os.strerror(err)}", file=sys.stderr)
        sys.exit(77)
    os.execvp(sys.argv[2], sys.argv[2:])


if __name__ == "__main__":
    main()
