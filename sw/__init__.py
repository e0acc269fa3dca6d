"""Pure-Python tooling: tile config, ISA, assembler, image format, CLI."""
