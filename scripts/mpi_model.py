#!/usr/bin/env python3
"""Projected speedup of MPI dictionary learning (BENCHMARKS.md, "MPI").

A model fitted to the 1-rank per-step times of scripts/bench_mpi.sh:
  T(N) = (t_enc + t_upd) * work(N) + t_rest + T_comm(N)
t_enc: encoding, t_upd: chunk partial updates (both split over ranks by
solver chunks of 64 signals), t_rest: the replicated part (atom update,
renormalisation, Gram matrix, batch assembly: counted as not shrinking).
Communication per step, from the message sizes of the code:
  allreduce SUM of 8·(n·k [+ k·k online] + k + 3·m) bytes  (Rabenseifner: 2·log2 N·α + 2(N−1)/N·B·β)
  allreduce MAX of 4·k [·2 online] bytes                    (2·log2 N·α)
  all-to-all of the batch, 4·n·m/N bytes into each rank     ((N−1)·α + (N−1)/N·4·n·m/N·β)
  all-gather of the 4-byte stop flag                        (log2 N·α)
α = 2 µs, β = 1/(12.5 GB/s) (100 Gb/s InfiniBand EDR).
Usage: mpi_model.py NAME n k t_enc_ms t_upd_ms t_rest_ms [online]
"""
import math
import sys

ALPHA, BETA = 2e-6, 1 / 12.5e9


def comm(n, k, m, N, online):
    if N == 1:
        return 0.0, 0
    lg = math.log2(N)
    red = 8 * (n * k + (k * k if online else 0) + k + 3 * m)
    a2a = 4 * n * m / N * (N - 1) / N
    t = 2 * lg * ALPHA + 2 * (N - 1) / N * red * BETA
    t += 2 * lg * ALPHA
    t += (N - 1) * ALPHA + a2a * BETA
    t += lg * ALPHA
    return t, red + (8 if online else 4) * k + a2a


def main():
    name, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    enc, upd, rest = (float(v) * 1e-3 for v in sys.argv[4:7])
    online = len(sys.argv) > 7 and sys.argv[7] == "online"
    t1 = enc + upd + rest
    for N in (8, 64, 512):
        # Strong scaling: global batch 256 = 4 chunks.
        work = math.ceil(4 / N) / 4
        tc, _ = comm(n, k, 256, N, online)
        strong = t1 / ((enc + upd) * work + rest + tc)
        # Weak scaling: 256 signals per rank, global batch 256·N.
        tcw, bytes_w = comm(n, k, 256 * N, N, online)
        weak = N * t1 / (t1 + tcw)
        print(f"| {name} | {N} | {strong:.2f} | {bytes_w/1e6:.2f} MB | {tcw*1e3:.2f} ms | {weak:.1f} |")


main()
