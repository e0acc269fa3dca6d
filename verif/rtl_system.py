"""Several tiles on their own clocks, joined by C2C links, on Verilator.

``build_system`` wraps the tile Verilog (the same module the single-tile model uses, compiled
once however many instances) in a generated top ``lpu_system``: one clock, reset, host port,
``busy`` and ``hac`` per tile, every link of the wiring joined both ways (each wire clocked by
its sender, ``link_<p>_rx_clk`` = the sender's clock), and two simulation-only helpers:

* ``flip_arm_<k>``: when raised, bit 3 of the next valid word on directed wire k (link i
  gives k = 2i from its first port to its second, 2i + 1 back) is inverted, once;
* an offset monitor on tile 0's clock: while ``monitor_en`` is high it counts ``samples`` and
  keeps ``ahead_<t>`` and ``behind_<t>``, the largest ``hac_t - hac_0`` and ``hac_0 - hac_t``
  (modulo the epoch) seen.

``run_system_jobs`` drives it through ``lpu.verif.tb_system`` (cocotb): clocks of the given
ppm offsets, bring-up, then jobs (one program per tile, started together on a HAC epoch).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..hw.verilog import BUILD
from ..sw.config import TileConfig
from ..sw.hostjob import JobResult
from ..sw.hostmap import HostMap
from .model_build import build_model, model_key, run_testbench, verilator_runner
from .rtl_tile import TOP

SYSTEM_TOP = "lpu_system"
SYSTEM_TB = "lpu.verif.tb_system"
SYSTEM_VLT = Path(__file__).with_name("system_ports.vlt")
BASE_PERIOD_FS = 10_000_000  # 10 ns, 100 MHz
FLIP_BIT = 3

Port = tuple[int, str, int]  # (tile, C2C slice, link)


def system_verilog(config: TileConfig, tiles: int, wiring: list[tuple[Port, Port]]) -> str:
    """The ``lpu_system`` wrapper around ``tiles`` instances of module ``tile``."""
    hmap = HostMap(config)
    A, D = hmap.addr_bits, hmap.data_bits
    B = config.c2c_link_bits
    H = (config.hac_epoch - 1).bit_length()
    ports, body = [], []
    for t in range(tiles):
        ports += [f"input clk_{t}", f"input rst_{t}", f"input [{A - 1}:0] host_addr_{t}",
                  f"input [{D - 1}:0] host_wdata_{t}", f"input host_we_{t}",
                  f"input host_re_{t}", f"output [{D - 1}:0] host_rdata_{t}",
                  f"output busy_{t}", f"output [{H - 1}:0] hac_{t}"]
    ports.append("input monitor_en")
    ports.append("output reg [31:0] samples")
    ports += [f"output reg [{H - 1}:0] {side}_{t}" for t in range(1, tiles)
              for side in ("ahead", "behind")]
    ports += [f"input flip_arm_{k}" for k in range(2 * len(wiring))]

    for t in range(tiles):
        for slice_name, link in hmap.link_ports:
            p = HostMap.port_name(slice_name, link)
            body += [f"  wire [{B - 1}:0] t{t}_{p}_tx_data;", f"  wire t{t}_{p}_tx_valid;"]
    rx = {}  # (tile, port name) -> (data, valid, clk) expressions
    for i, ends in enumerate(wiring):
        for k, (src, dst) in enumerate((ends, ends[::-1])):
            wire = 2 * i + k
            s_name = f"{HostMap.port_name(src[1], src[2])}"
            tx, clk = f"t{src[0]}_{s_name}_tx", f"clk_{src[0]}"
            body += [
                f"  reg [1:0] flip_{wire} = 0;  // 0 idle, 1 armed, 2 done",
                f"  always @(posedge {clk})",
                f"    if (flip_{wire} == 0 && flip_arm_{wire}) flip_{wire} <= 1;",
                f"    else if (flip_{wire} == 1 && {tx}_valid) flip_{wire} <= 2;",
                f"  wire [{B - 1}:0] wire_{wire} = {tx}_data ^ "
                f"((flip_{wire} == 1 && {tx}_valid) ? {B}'d{1 << FLIP_BIT} : {B}'d0);",
            ]
            rx[(dst[0], HostMap.port_name(dst[1], dst[2]))] = (f"wire_{wire}", f"{tx}_valid", clk)

    for t in range(tiles):
        conns = [f".clk(clk_{t})", f".rst(rst_{t})", f".host_addr(host_addr_{t})",
                 f".host_wdata(host_wdata_{t})", f".host_we(host_we_{t})",
                 f".host_re(host_re_{t})", f".host_rdata(host_rdata_{t})", f".busy(busy_{t})",
                 f".hac(hac_{t})"]
        for slice_name, link in hmap.link_ports:
            p = HostMap.port_name(slice_name, link)
            data, valid, clk = rx.get((t, p), (f"{B}'d0", "1'b0", "1'b0"))
            conns += [f".{p}_tx_data(t{t}_{p}_tx_data)", f".{p}_tx_valid(t{t}_{p}_tx_valid)",
                      f".{p}_rx_data({data})", f".{p}_rx_valid({valid})", f".{p}_rx_clk({clk})"]
        body.append(f"  {TOP} tile_{t} (" + ", ".join(conns) + ");")

    body.append("  always @(posedge clk_0) begin")
    body.append("    if (!monitor_en) samples <= 0; else samples <= samples + 1;")
    for t in range(1, tiles):
        body += [
            f"    if (!monitor_en) begin ahead_{t} <= 0; behind_{t} <= 0; end",
            f"    else if (diff_{t}[{H - 1}]) begin",
            f"      if (-diff_{t} > behind_{t}) behind_{t} <= -diff_{t};",
            f"    end else if (diff_{t} > ahead_{t}) ahead_{t} <= diff_{t};",
        ]
    body.append("  end")
    offsets = []
    for t in range(1, tiles):
        offsets.append(f"  wire [{H - 1}:0] diff_{t} = hac_{t} - hac_0;")
    return (f"// Generated by lpu.verif.rtl_system: {tiles} tiles of {config}\n"
            f"module {SYSTEM_TOP} (\n  " + ",\n  ".join(ports) + "\n);\n"
            + "\n".join(offsets + body) + "\nendmodule\n")


def build_system(config: TileConfig, tiles: int, wiring, verbose: bool = True) -> Path:
    """Return the build folder of the system model, generating and building it if needed."""
    wrapper = system_verilog(config, tiles, wiring)

    def tile_verilog():
        from amaranth.back import verilog

        from ..hw.tile import Tile

        return verilog.convert(Tile(config), name=TOP)

    key = model_key(config, None, None, wrapper, SYSTEM_VLT.read_text())
    return build_model(BUILD / f"system-{key}", f"system model ({tiles} tiles)",
                       {f"{TOP}.v": tile_verilog, f"{SYSTEM_TOP}.v": lambda: wrapper},
                       SYSTEM_TOP, SYSTEM_VLT, extra_args=("-Wno-MULTIDRIVEN",),
                       timescale=("1ps", "1fs"), verbose=verbose)


def model_tiles(config: TileConfig) -> int:
    """Tiles in the system model built for ``config``: the largest star its links allow (one
    model serves every smaller system; the tiles a system does not use stay unclocked)."""
    return 4 if config.c2c_links >= 2 else 3


def default_phases(tiles: int) -> list[int]:
    """Start offsets of the tile clocks: distinct fractions of a period, so no two tiles'
    edges coincide at the start."""
    return [t * 29 * BASE_PERIOD_FS // 100 for t in range(tiles)]


def period_fs(ppm: float) -> int:
    """Clock period of a tile whose frequency is ``ppm`` parts per million above nominal,
    rounded to an even number of femtoseconds (two equal half periods)."""
    return 2 * round(BASE_PERIOD_FS / (1 + ppm * 1e-6) / 2)


@dataclass
class SystemJob:
    """One run of the system: a Job per tile (writes, reads, max_cycles), all started on the
    same HAC epoch; optionally a wire bit flipped ``flip_after`` root cycles after START."""

    tiles: list  # of lpu.sw.hostjob.Job, one per active tile
    flip_wire: int | None = None
    flip_after: int = 0
    idle_cycles: int = 0  # with no programs: just let the links run this many root cycles


@dataclass
class SystemRun:
    """What a system run measured."""

    bringup_cycles: int  # root cycles from reset until every tile was aligned
    jobs: list[list[JobResult]]  # per job, per tile
    links: list[list[dict]]  # per job, per tile, per link port: latency, trims, bad_frames
    offsets: list[list[tuple[int, int]]]  # per job, tiles 1..: most (behind, ahead) so far
    samples: list[int]  # per job: root cycles the monitor has watched so far
    seconds: float = 0.0
    log: list[str] = field(default_factory=list)


def run_system_jobs(config: TileConfig, tiles: int, wiring, ppm: list[float],
                    jobs: list[SystemJob], phases_fs: list[int] | None = None,
                    active: int | None = None, verbose: bool = True) -> SystemRun:
    """Bring the links up and run ``jobs`` on ``active`` tiles (default all) of a
    ``tiles``-tile model whose clocks are ``ppm`` off nominal."""
    active = tiles if active is None else active
    if len(ppm) != active:
        raise ValueError(f"need one ppm value per active tile ({active}), got {len(ppm)}")
    hmap = HostMap(config)
    roles = [{} for _ in range(active)]
    for (a, b) in wiring:
        if a[0] < active and b[0] < active:
            roles[a[0]][(a[1], a[2])] = "parent"
            roles[b[0]][(b[1], b[2])] = "child"
    folder = build_system(config, tiles, wiring, verbose)
    spec = {
        "tiles": active,
        "wires": 2 * len(wiring),
        "periods_fs": [period_fs(p) for p in ppm],
        "phases_fs": phases_fs or default_phases(active),
        "roles": [hmap.roles_word(r) for r in roles],
        "jobs": [{"tiles": [{"writes": j.writes, "reads": j.reads, "max_cycles": j.max_cycles}
                            for j in job.tiles],
                  "flip_wire": job.flip_wire, "flip_after": job.flip_after,
                  "idle_cycles": job.idle_cycles} for job in jobs],
    }
    work = Path(tempfile.mkdtemp(prefix="run-", dir=folder))
    t0 = time.monotonic()
    try:
        spec_file, result_file = work / "spec.json", work / "results.json"
        spec_file.write_text(json.dumps(spec))
        env = {"LPU_CONFIG": json.dumps(config.as_dict()), "LPU_SYSTEM_SPEC": str(spec_file),
               "LPU_SYSTEM_RESULTS": str(result_file)}
        raw = run_testbench(folder, work, verilator_runner(SYSTEM_VLT), SYSTEM_TOP, SYSTEM_TB,
                            env, "system")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out_jobs = []
    for job in raw["jobs"]:
        results = []
        for r in job["tiles"]:
            res = JobResult(**{k: v for k, v in r.items() if k not in ("words", "links")},
                            words={int(a): w for a, w in r["words"].items()})
            res.errors = hmap.decode_errors(res.error_bits)
            results.append(res)
        out_jobs.append(results)
    return SystemRun(raw["bringup_cycles"], out_jobs,
                     [[r["links"] for r in job["tiles"]] for job in raw["jobs"]],
                     [[tuple(o) for o in job["offsets"]] for job in raw["jobs"]],
                     [job["samples"] for job in raw["jobs"]], time.monotonic() - t0)
