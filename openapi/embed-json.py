#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Builds a JSON file into a program: writes a C source with its bytes and the header that
declares them, so a daemon serves the very file that is installed (GET /openapi.json) without
reading it at run time.

    embed-json.py INPUT SYMBOL OUTPUT.c OUTPUT.h

defines  const char SYMBOL[]  (the bytes, then a NUL that is not counted) and
         const size_t SYMBOL_size.
The file must be JSON (it is served as application/json): anything else fails the build.
"""

import json
import os
import sys


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    source, symbol, out_c, out_h = sys.argv[1:]
    with open(source, "rb") as f:
        data = f.read()
    try:
        json.loads(data)
    except ValueError as e:
        sys.exit(f"{source}: not JSON: {e}")
    name = os.path.basename(source)
    header = os.path.basename(out_h)

    with open(out_h, "w") as f:
        f.write(f"/* Generated from {name} by openapi/embed-json.py: do not edit. */\n"
                "#pragma once\n\n#include <stddef.h>\n\n"
                f"/* The bytes of {name}, followed by a NUL that {symbol}_size does not count. */\n"
                f"extern const char {symbol}[];\nextern const size_t {symbol}_size;\n")

    lines = []
    for i in range(0, len(data), 16):
        lines.append("        " + " ".join(f"0x{b:02x}," for b in data[i:i + 16]))
    with open(out_c, "w") as f:
        f.write(f"/* Generated from {name} by openapi/embed-json.py: do not edit. */\n"
                f"#include \"{header}\"\n\n"
                f"const char {symbol}[] = {{\n" + "\n".join(lines) + "\n        0x00,\n};\n\n"
                f"const size_t {symbol}_size = {len(data)};\n")


if __name__ == "__main__":
    main()
