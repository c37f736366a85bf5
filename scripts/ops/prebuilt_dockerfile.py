#!/usr/bin/env python3
"""Writes a copy of docker/Dockerfile whose Rust stages (chef, planner,
builder) are replaced by one line, `FROM <image> AS builder`, where the
image holds binaries built already in /out. The runtime stages stay as
they are, so the test suite builds and runs the real ones without compiling
the workspace inside a container again.

    prebuilt_dockerfile.py docker/Dockerfile OUT IMAGE
"""

import re
import sys

RUST_STAGES = {"chef", "planner", "builder"}


def main(src_path, out_path, image):
    src = open(src_path).read()
    parts = re.split(r"(?m)^(?=FROM )", src)
    out, replaced = [parts[0]], False
    for stage in parts[1:]:
        name = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", stage, re.I).group(1)
        if name in RUST_STAGES:
            if name == "builder":
                out.append(f"FROM {image} AS builder\n\n")
                replaced = True
            continue
        out.append(stage)
    if not replaced:
        sys.exit(f"{src_path} has no builder stage")
    open(out_path, "w").write("".join(out))


if __name__ == "__main__":
    main(*sys.argv[1:4])
