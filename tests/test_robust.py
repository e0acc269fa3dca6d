"""The robustness checker (verif/robust.py): mutated programs and images through the real CLI
end in exit 0 or a clean ``error:`` message, never a traceback or a hang, and every accepted
image disassembles to text that assembles back to its bytes.

A seeded sample runs by default; ``LPU_LONG=1`` runs the full 5,000 programs and 2,000 images.
"""

from __future__ import annotations

import os

from lpu.verif import robust

LONG = bool(os.environ.get("LPU_LONG"))


def test_mutated_programs_and_images():
    programs, images = (5000, 2000) if LONG else (400, 300)
    report = robust.check(programs, images, seed=18)
    failures = [f"{case.reproducer()}\n  {problems[0][:600]}"
                for case, problems in report.failures]
    assert not failures, "\n".join(failures)
    assert sum(report.counts["program"].values()) == programs
    assert sum(report.counts["image"].values()) == images
    # The sample reaches every outcome the checker tells apart, not only rejections.
    for kind in ("program", "image"):
        assert report.counts[kind]["ok"] > 0 and report.counts[kind]["error"] > 0, report.counts


def test_checker_flags_a_traceback_and_a_bad_message(monkeypatch):
    def boom(argv):
        raise KeyError("x")

    monkeypatch.setattr(robust, "lpu", boom)
    r = robust.cli("asm", "x.s")
    assert r.rc == "traceback" and "KeyError" in r.err
    assert robust.failure("asm", r) is not None
    assert robust.failure("asm", robust.Result(1, "", "x.s: oops\n")) is not None
    assert robust.failure("asm", robust.Result(1, "", "x.s:1:2: error: bad\n")) is None
    assert robust.failure("asm", robust.Result(2, "", "usage: ...\n")) is not None


def test_cases_are_deterministic():
    for kind in ("program", "image"):
        a, b = robust.make_case(kind, 7, 3), robust.make_case(kind, 7, 3)
        assert (a.data, a.mutation, a.origin) == (b.data, b.mutation, b.origin)


def test_checker_stops_a_hang(monkeypatch):
    import time

    monkeypatch.setattr(robust, "HANG_SECONDS", 0.2)
    monkeypatch.setattr(robust, "lpu", lambda argv: time.sleep(5))
    r = robust.cli("run", "x.lpx")
    assert r.rc == "hang" and robust.failure("run", r) is not None
