; y = x @ w for one 16 x 16 tile on the west MXM (default tile, 16 lanes).
; Positions: MXM_W 1, MEM_W1 3, MEM_W0 4, VXM 5, MEM_E0 6, MEM_E1 7.
; A value issued at cycle t by a slice at p with latency d is at slice q in cycle t + d + |q - p|.
.config default
.data w i8[16,16] MEM_W1:0x000, MEM_W0:0x000   ; rows dealt round-robin: even rows W1, odd W0
.data x i8[16]    MEM_W0:0x010
.data y i32[16]   MEM_W1:0x010, MEM_W0:0x011, MEM_E0:0x000, MEM_E1:0x000  ; one byte plane each

.queue MEM_W0.0
    READ w, W1              ; odd rows, cycles 0..7, at MXM_W (3 hops) in cycles 4..11
    REPEAT 7, 1, 1
@9  READ x, W2              ; at MXM_W in cycle 9 + 1 + 3 = 13
@19 WRITE y, E1             ; byte plane 1 of the ACC result
.queue MEM_W1.0
@1  READ w, W0              ; even rows, cycles 1..8, at MXM_W (2 hops) in cycles 4..11
    REPEAT 7, 1, 1
@18 WRITE y, E0             ; byte plane 0
.queue MXM_W.WGT
@4  LW 0, W0, 2             ; two shadow rows a cycle: rows 0,1 then 2,3 ... 14,15
    REPEAT 7, 1, 2
.queue MXM_W.ACT
@12 IW                      ; the shadow is complete after cycle 11
    ABC W2, 0, 0            ; cycle 13: acc0 = x @ W
@15 ACC 0, E0               ; result group E0..E3 leaves MXM_W at the end of cycle 16
.queue MEM_E0.0
@21 WRITE y, E2             ; byte plane 2 (5 hops)
.queue MEM_E1.0
@22 WRITE y, E3             ; byte plane 3 (6 hops)
