"""Amaranth RTL of the tile (one file per functional unit)."""
