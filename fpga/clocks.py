"""Tile clocks below or above a board's oscillator: an ECP5 PLL (``EHXPLLL``) as the ``sync``
domain, held in reset until it locks; and the ECP5 clock network for high-fanout nets."""

from __future__ import annotations

from amaranth import ClockDomain, Elaboratable, Instance, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

#: EHXPLLL limits (Lattice TN1263): phase detector input and VCO frequency ranges, in MHz.
PFD_MHZ = (3.125, 400.0)
VCO_MHZ = (400.0, 800.0)


def ecp5_pll_params(f_in: float, f_out: float) -> dict[str, int]:
    """CLKI_DIV, CLKFB_DIV and CLKOP_DIV giving exactly ``f_out`` MHz from ``f_in`` MHz with the
    feedback from CLKOP (f_out = f_in / CLKI_DIV * CLKFB_DIV, VCO = f_out * CLKOP_DIV), the VCO
    nearest 600 MHz; ValueError when no setting is exact."""
    best = None
    for clki in range(1, 129):
        if not PFD_MHZ[0] <= f_in / clki <= PFD_MHZ[1]:
            continue
        for clkfb in range(1, 81):
            if abs(f_in / clki * clkfb - f_out) > 1e-9:
                continue
            for clkop in range(1, 129):
                vco = f_out * clkop
                if VCO_MHZ[0] <= vco <= VCO_MHZ[1]:
                    score = abs(vco - 600)
                    if best is None or score < best[0]:
                        best = (score, {"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": clkop})
    if best is None:
        raise ValueError(f"no ECP5 PLL setting makes exactly {f_out} MHz from {f_in} MHz")
    return best[1]


class Ecp5PllDomain(Elaboratable):
    """Drives the clock domain ``domain`` (defined by the caller) at ``f_out`` MHz from the
    board's ``f_in`` MHz oscillator resource ``clk_name``; reset while the PLL is not locked."""

    def __init__(self, domain: ClockDomain, clk_name: str, f_in: float, f_out: float):
        self.domain, self.clk_name, self.f_in, self.f_out = domain, clk_name, f_in, f_out
        self.params = ecp5_pll_params(f_in, f_out)

    def elaborate(self, platform):
        m = Module()
        m.submodules.clk_in = clk_in = io.Buffer("i", platform.request(self.clk_name, dir="-"))
        sync = self.domain
        locked = Signal()
        p = self.params
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=str(self.f_in), a_FREQUENCY_PIN_CLKOP=str(self.f_out),
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
            p_CLKI_DIV=p["CLKI_DIV"], p_CLKFB_DIV=p["CLKFB_DIV"], p_CLKOP_DIV=p["CLKOP_DIV"],
            p_CLKOP_CPHASE=p["CLKOP_DIV"] - 1, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            i_RST=0, i_STDBY=0, i_CLKI=clk_in.i, i_CLKFB=sync.clk,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
            i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_CLKOP=sync.clk, o_LOCK=locked)
        m.submodules.reset_sync = ResetSynchronizer(~locked, domain=sync.name)
        platform.add_clock_constraint(sync.clk, self.f_out * 1e6)
        return m


def ecp5_global_buffer(m: Module, name: str, net: Signal) -> Signal:
    """``net`` through a ``DCCA`` onto an ECP5 primary clock network, which reaches every
    slice's clock enable and reset: nextpnr promotes only clocks itself, and a net that
    enables most of the tile's flip-flops otherwise takes general routing to each of them."""
    buffered = Signal(name=f"{name}_global")
    m.submodules[f"{name}_dcca"] = Instance("DCCA", i_CLKI=net, i_CE=1, o_CLKO=buffered)
    return buffered
