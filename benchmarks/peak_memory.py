"""Run a command and report its wall time and peak memory, anonymous and total.

``ru_maxrss`` counts the pages of memory-mapped files too; the anonymous resident memory
(``RssAnon`` in /proc/PID/status, polled every 20 ms over the process tree) is what a
memory limit such as a 2 GB Binder charges.

    python benchmarks/peak_memory.py -- python -m phaselib map BIG.npy --out OUT ...
"""

import os
import subprocess
import sys
import time


def _tree(pid):
    out = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            for child in fh.read().split():
                out += _tree(int(child))
    except OSError:
        pass
    return out


def _status(pid):
    vals = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("RssAnon:", "RssFile:", "VmRSS:")):
                    key, value = line.split(":")
                    vals[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return vals


def measure(cmd, interval=0.02):
    """Return (returncode, wall_s, peak_anon_mb, peak_rss_mb)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak_anon = peak_rss = 0.0
    while proc.poll() is None:
        anon = rss = 0.0
        for pid in _tree(proc.pid):
            st = _status(pid)
            anon += st.get("RssAnon", 0.0)
            rss += st.get("VmRSS", 0.0)
        peak_anon, peak_rss = max(peak_anon, anon), max(peak_rss, rss)
        time.sleep(interval)
    return proc.returncode, time.perf_counter() - t0, peak_anon, peak_rss


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit(__doc__)
    rc, wall, anon, rss = measure(args)
    print(f"exit {rc}; wall {wall:.1f} s; peak anonymous memory {anon:.0f} MB; peak RSS {rss:.0f} MB "
          f"(cpus: {os.cpu_count()})")
    sys.exit(rc)
