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


def spawn_join_with(method, n):
    """Microseconds per start + join of an empty process with start method `method`."""
    ctx = mp.get_context(method)
    t = time.perf_counter()
    for _ in range(n):
        p = ctx.Process(target=noop)
        p.start()
        p.join()
    return (time.perf_counter() - t) / n * 1e6


def ponger(conn, n):
    for _ in range(n):
        conn.send_bytes(conn.recv_bytes())


def pipe_rtt(n):
    a, b = mp.Pipe()
    p = mp.Process(target=ponger, args=(b, n))
    p.start()
    msg = b"x" * 64
    t = time.perf_counter()
    for _ in range(n):
        a.send_bytes(msg)
        a.recv_bytes()
    dt = time.perf_counter() - t
    p.join()
    return dt / n * 1e6


def sink(conn, n):
    for _ in range(n):
        conn.recv_bytes()


def pipe_bw(n, size=1 << 20):
    r, w = mp.Pipe(duplex=False)
    p = mp.Process(target=sink, args=(r, n))
    p.start()
    msg = b"x" * size
    t = time.perf_counter()
    for _ in range(n):
        w.send_bytes(msg)
    p.join()
    return n * size / (time.perf_counter() - t) / 1e6


def drain(q, n):
    for _ in range(n):
        q.get()


def fill(q, n, item):
    for _ in range(n):
        q.put(item)


def queue_1p1c(n):
    q = mp.Queue(1000)
    item = b"x" * 64
    c = mp.Process(target=drain, args=(q, n))
    c.start()
    t = time.perf_counter()
    for _ in range(n):
        q.put(item)
    c.join()
    return n / (time.perf_counter() - t)


def queue_4p4c(per):
    q = mp.Queue(1000)
    item = b"x" * 64
    t = time.perf_counter()
    ps = [mp.Process(target=drain, args=(q, per)) for _ in range(4)]
    ps += [mp.Process(target=fill, args=(q, per, item)) for _ in range(4)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    return 4 * per / (time.perf_counter() - t)


def sem_partner(a, b, n):
    for _ in range(n):
        a.acquire()
        b.release()


def sem_rtt(n):
    a, b = mp.Semaphore(0), mp.Semaphore(0)
    p = mp.Process(target=sem_partner, args=(a, b, n))
    p.start()
    t = time.perf_counter()
    for _ in range(n):
        a.release()
        b.acquire()
    dt = time.perf_counter() - t
    p.join()
    return dt / n * 1e6


def square(x):
    return x * x


def pool_map(n):
    with mp.Pool(2) as pool:
        pool.map(square, range(1000))
        t = time.perf_counter()
        pool.map(square, range(n))
        return n / (time.perf_counter() - t)


def pool_apply_async(n):
    with mp.Pool(2) as pool:
        t = time.perf_counter()
        rs = [pool.apply_async(square, (i,)) for i in range(n)]
        for r in rs:
            r.get()
        return n / (time.perf_counter() - t)


def sleep_ms(ms):
    time.sleep(ms / 1000)
    return ms


def pool_mixed(shorts, long_ms=500):
    """1 task of 500 ms and `shorts` of 1 ms on 2 workers: (total / ideal, p99 ms of the short)."""
    with mp.Pool(2) as pool:
        pool.map(square, range(1000))
        done = []
        t = time.perf_counter()
        long = pool.apply_async(sleep_ms, (long_ms,))
        rs = [
            pool.apply_async(sleep_ms, (1,), callback=lambda _: done.append(time.perf_counter() - t))
            for _ in range(shorts)
        ]
        for r in rs:
            r.get()
        long.get()
        total = time.perf_counter() - t
    lat = sorted(done)
    ideal = max(long_ms / 1e3, (long_ms + shorts) / 1e3 / 2)
    return total / ideal, lat[min(len(lat) - 1, len(lat) * 99 // 100)] * 1e3


def manager_dict(n):
    """Microseconds per `d[k] = i; d[k]` on a Manager dict, from one client process."""
    with mp.Manager() as manager:
        d = manager.dict()
        t = time.perf_counter()
        for i in range(n):
            d[i % 64] = i
            assert d[i % 64] == i
        return (time.perf_counter() - t) / n * 1e6


def task_drain(q, n):
    for _ in range(n):
        q.get()
        q.task_done()


def joinable(n):
    """Items per second: put n items, a child gets and task_done()s each, then join()."""
    q = mp.JoinableQueue(1000)
    c = mp.Process(target=task_drain, args=(q, n))
    c.start()
    t = time.perf_counter()
    for i in range(n):
        q.put(i)
    q.join()
    rate = n / (time.perf_counter() - t)
    c.join()
    return rate


def median(f, *args):
    return statistics.median(f(*args) for _ in range(ROUNDS))


if __name__ == "__main__":
    mp.set_start_method("fork")
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    k = lambda n: max(1, int(n * scale))
    print(f"spawn_join_us {median(spawn_join, k(200)):.1f} us/process")
    print(f"forkserver_join_us {median(spawn_join_with, 'forkserver', k(200)):.1f} us/process")
    print(f"spawn_method_join_us {median(spawn_join_with, 'spawn', k(20)):.1f} us/process")
    print(f"pipe_rtt_64B_us {median(pipe_rtt, k(20000)):.2f} us")
    print(f"pipe_bw_1MiB_MBps {median(pipe_bw, k(1000)):.0f} MB/s")
    print(f"queue_1p1c_msgs_per_s {median(queue_1p1c, k(100000)):.0f} msgs/s")
    print(f"queue_4p4c_msgs_per_s {median(queue_4p4c, k(25000)):.0f} msgs/s")
    print(f"sem_rtt_us {median(sem_rtt, k(20000)):.2f} us")
    print(f"pool_map_tasks_per_s {median(pool_map, k(1000000)):.0f} tasks/s")
    print(f"pool_apply_async_tasks_per_s {median(pool_apply_async, k(100000)):.0f} tasks/s")
    print(f"manager_dict_get_set_us {median(manager_dict, k(5000)):.1f} us")
    print(f"joinable_put_task_done_per_s {median(joinable, k(50000)):.0f} items/s")
    mixed = [pool_mixed(max(20, k(200))) for _ in range(ROUNDS)]
    print(f"pool_mixed_total_vs_ideal {statistics.median(m[0] for m in mixed):.2f} x")
    print(f"pool_mixed_short_p99_ms {statistics.median(m[1] for m in mixed):.1f} ms")
