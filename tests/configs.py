"""Tile configurations several test modules share (none of them is a preset)."""

from lpu.sw.config import TileConfig

#: A 2-lane tile: one weight feeder per MXM, MXM tiles of 2 cycles (IW, ABCB), no TRANSPOSE.
TWO_LANES = TileConfig(lanes=2, streams=8, mem_slices=2, mem_words=1024, vxm_alus=3,
                       mxm_accumulators=2, mxm_act_slots=64, sxm_maps=2, queue_words=1024)
