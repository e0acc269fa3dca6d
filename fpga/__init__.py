"""FPGA board tops and build entry points."""
