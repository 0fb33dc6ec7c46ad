#!/usr/bin/env python3
"""Python multiprocessing on the workloads `ci/bench` reports, with the same keys.
Prints `key value unit` per line. Usage: bench.py [scale]"""
import multiprocessing as mp
import statistics
import sys
import time

ROUNDS = 3


def noop():
    pass


def spawn_join(n):
    t = time.perf_counter()
    for _ in range(n):
        p = mp.Process(target=noop)
        p.start()
        p.join()
    return (time.perf_counter() - t) / n * 1e6


def median(f, *args):
    return statistics.median(f(*args) for _ in range(ROUNDS))


if __name__ == "__main__":
    mp.set_start_method("fork")
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    k = lambda n: max(1, int(n * scale))
    print(f"spawn_join_us {median(spawn_join, k(200)):.1f} us/process")
