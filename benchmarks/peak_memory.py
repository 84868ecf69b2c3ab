"""Run a command and report its wall time and peak memory, anonymous and total.

``ru_maxrss`` counts the pages of memory-mapped files too; the anonymous resident memory
(``RssAnon`` in /proc/PID/status, polled every 20 ms over the process tree) is what a
memory limit such as a 2 GB Binder charges. From the repository root::

    python -m benchmarks.peak_memory -- python -m phaselib map BIG.npy --out OUT ...
"""

import os
import subprocess
import sys
import time

from benchmarks._measure import tree_memory


def measure(cmd, interval=0.02):
    """Return (returncode, wall_s, peak_anon_mb, peak_rss_mb)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak_anon = peak_rss = 0.0
    while proc.poll() is None:
        anon, rss = tree_memory(proc.pid)
        peak_anon, peak_rss = max(peak_anon, anon), max(peak_rss, rss)
        time.sleep(interval)
    return proc.returncode, time.perf_counter() - t0, peak_anon, peak_rss


def main(argv=None):
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args or args[0] in ("-h", "--help"):  # a help option is no command to run
        print(__doc__)
        return 0
    try:
        rc, wall, anon, rss = measure(args)
    except OSError as err:  # a command that does not exist: said in one line
        sys.exit(f"peak_memory: could not run {args[0]!r} ({err.strerror or type(err).__name__}).")
    print(f"exit {rc}; wall {wall:.1f} s; peak anonymous memory {anon:.0f} MB; peak RSS {rss:.0f} MB "
          f"(cpus: {os.cpu_count()})")
    return rc


if __name__ == "__main__":
    sys.exit(main())
