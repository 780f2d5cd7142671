"""Forward error correction for bonded paths: RaptorQ blocks, cross-path XOR, adaptive and
unequal protection. Sans-I/O: bytes and times in, bytes and decisions out."""
