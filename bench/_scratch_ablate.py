import sys, time, asyncio, statistics, types, os
sys.path.insert(0, "bench")
import overhead as o
import durable_chaos.jsonl as jl
sc = o.load_scenario(o.SCENARIO_FILE)
b = o.Bench(sc)
fake = types.SimpleNamespace(**{k: getattr(os, k) for k in ("open","write","close","O_WRONLY","O_APPEND","O_CREAT")}, fsync=lambda fd: None)
async def nofsync():
    jl.os = fake
    try: return await b.harness()
    finally: jl.os = os
variants = {"direct": b.direct, "harness": b.harness, "harness-nofsync": nofsync}
N = int(sys.argv[1]) if len(sys.argv) > 1 else 20
try:
    b.start()
    for _ in range(2):
        for f in variants.values(): asyncio.run(f())
    s = {k: [] for k in variants}; cpu = {k: [] for k in variants}
    names = list(variants)
    for i in range(N):
        order = names[i % 3:] + names[:i % 3]
        for k in order:
            t = time.perf_counter(); c = time.process_time()
            asyncio.run(variants[k]())
            s[k].append((time.perf_counter()-t)*1000); cpu[k].append((time.process_time()-c)*1000)
    d = statistics.median(s["direct"])
    for k in names:
        print(f"{k:<16} wall median {statistics.median(s[k]):7.1f} mean {statistics.fmean(s[k]):7.1f}  "
              f"cpu median {statistics.median(cpu[k]):7.1f}  ratio {statistics.median(s[k])/d:.3f}")
finally:
    b.close()
