#!/usr/bin/env python3
"""Flash bytes of a 32-bit little-endian ELF: every allocated section that has
file contents (vector table, .text, .rodata, and the .data initializers)."""
import struct
import sys

SHF_ALLOC = 0x2
SHT_NOBITS = 8

with open(sys.argv[1], "rb") as f:
    elf = f.read()
if elf[:4] != b"\x7fELF" or elf[4] != 1:
    sys.exit("not a 32-bit ELF")
shoff, = struct.unpack_from("<I", elf, 0x20)
shentsize, shnum = struct.unpack_from("<HH", elf, 0x2E)
total = 0
for i in range(shnum):
    _, sh_type, flags, _, _, size = struct.unpack_from("<IIIIII", elf, shoff + i * shentsize)
    if flags & SHF_ALLOC and sh_type != SHT_NOBITS:
        total += size
print(total)
