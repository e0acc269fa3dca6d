"""The host side of the UART bridge against a software board that answers every READ of the
control registers with a fixed sequence of status words (no simulator, no serial port)."""

import pytest

from lpu.sw import hostmap as hm
from lpu.sw import uarthost
from lpu.sw import uartproto as up
from lpu.sw.config import TileConfig
from lpu.sw.hostmap import HostMap

HMAP = HostMap(TileConfig.named("tiny"))


def answer(steps, statuses):
    """Run ``steps``, replying to each READ of (REG_CTRL, REG_CYCLES) with the next status
    word (the last one repeats); return (result, number of polls)."""
    polls, pending = 0, b""
    step = next(steps)
    while True:
        kind, arg = step
        try:
            if kind == "write":
                request = up.decode_request(HMAP, arg)
                assert (request.command, request.address) == (up.Command.READ, hm.REG_CTRL)
                status = statuses[min(polls, len(statuses) - 1)]
                polls += 1
                pending = up.encode_reply(up.Status.OK,
                                          up.encode_words(HMAP, [status, 100 * polls]))
                step = steps.send(None)
            elif kind == "read":
                data, pending = pending[:arg], pending[arg:]
                step = steps.send(data)
            else:
                step = steps.send(None)
        except StopIteration as stop:
            return stop.value, polls


def test_wait_idle_returns_once_the_tile_is_idle():
    busy = [hm.STATUS_CLEARING] * 3 + [0]
    assert answer(uarthost.wait_idle(HMAP, None, "CLEAR"), busy) == (True, 4)


def test_wait_idle_reports_a_running_program_past_its_limit():
    assert answer(uarthost.wait_idle(HMAP, 250), [hm.STATUS_RUNNING]) == (False, 3)


def test_wait_idle_gives_up_on_a_tile_that_stays_busy(monkeypatch):
    """A board that never leaves CLEARING is an error after IDLE_POLLS polls, not a hang."""
    monkeypatch.setattr(uarthost, "IDLE_POLLS", 20)
    with pytest.raises(uarthost.UartHostError,
                       match=r"still busy after CLEAR \(20 status polls, REG_CTRL 0x8\)"):
        answer(uarthost.wait_idle(HMAP, None, "CLEAR"), [hm.STATUS_CLEARING])
