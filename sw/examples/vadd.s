; c = a + b on int8 vectors: two MEM slices read, the VXM adds, a third MEM slice writes.
; Default tile: MEM_W0 is at position 4, VXM at 5, MEM_E0 at 6, MEM_E1 at 7.
.config default
.data a i8[64] MEM_W0:0x000
.data b i8[64] MEM_E0:0x000
.data c i8[64] MEM_E1:0x000

.queue MEM_W0.0
    READ a, E0              ; cycles 0..3; leaves at the end of cycle 1, at the VXM in cycle 2
    REPEAT 3, 1, 1
.queue MEM_E0.0
    READ b, W0              ; one hop west: also at the VXM in cycle 2
    REPEAT 3, 1, 1
.queue VXM.0
@2  ADD.i8 E0, W0, E1       ; latency 1, two hops east: at MEM_E1 in cycle 2 + 1 + 2 = 5
    REPEAT 3, 1, 0
.queue MEM_E1.0
@5  WRITE c, E1
    REPEAT 3, 1, 1
