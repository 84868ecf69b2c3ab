"""Running and measuring child processes.

- In a measured child: :class:`PeakMeter`, the peak resident memory of this process over a window.
- From the parent: :func:`run_measured` (wall time and peak RSS of one child, from ``os.wait4``)
  and :func:`run_watched` (the memory of a child's whole process tree, polled, with a memory cap
  and a time-out); :func:`tree_memory` (anonymous and total RSS of a process tree).
- Sharing the machine: :func:`wait_for_quiet` (other processes' CPU use), :func:`wait_for_memory`,
  and the ``other_cpus`` of each run (CPUs other processes kept busy while it ran).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

from benchmarks._paths import ROOT

OTHER_LOAD_FLAG = 0.2  # runs during which other processes used more CPUs than this are flagged
GUARD_MB = 1024.0  # run_watched kills a child when the machine has less than this available
STAGE_MARK = "@@STAGE "  # a child prints STAGE_MARK + name as it starts a stage (peaks per stage)


def status_mb(key, pid="self"):
    """A memory line (``VmRSS``, ``VmHWM``, ``RssAnon``, ...) of ``/proc/PID/status`` in MiB; None if absent."""
    with open(f"/proc/{pid}/status") as fh:
        m = re.search(rf"^{key}:\s+(\d+)\s*kB", fh.read(), re.M)
    return int(m.group(1)) / 1024.0 if m else None


def maxrss_mb(ru_maxrss):
    """``ru_maxrss`` in MiB (kB on Linux, bytes on macOS)."""
    return ru_maxrss / 2**20 if sys.platform == "darwin" else ru_maxrss / 1024.0


# ====================================================================== in the child
class PeakMeter:
    """Peak resident memory of this process over a window, in MiB.

    On Linux the kernel's high-water mark (VmHWM) is reset by writing 5 to
    ``/proc/self/clear_refs``, so the peak is exact; elsewhere a thread samples the RSS.
    """

    def __init__(self):
        self.process_peak = 0.0  # high-water mark over the whole process life
        self._thread = None
        self.exact = self._can_reset()

    @staticmethod
    def _can_reset():
        try:
            if status_mb("VmHWM") is None:
                return False
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            return True
        except OSError:
            return False

    def rss(self):
        if self.exact:
            return status_mb("VmRSS")
        import psutil

        return psutil.Process().memory_info().rss / 2**20

    def hwm(self):
        if self.exact:
            return status_mb("VmHWM")
        import resource

        return maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

    def start(self):
        """Begin a window; returns the RSS at its start."""
        self.process_peak = max(self.process_peak, self.hwm())
        if self.exact:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        else:
            import psutil

            proc = psutil.Process()
            self._peak = proc.memory_info().rss / 2**20
            self._stop = threading.Event()

            def poll():
                while not self._stop.wait(0.002):
                    self._peak = max(self._peak, proc.memory_info().rss / 2**20)

            self._thread = threading.Thread(target=poll, daemon=True)
            self._thread.start()
        return self.rss()

    def peak(self):
        """Peak RSS since :meth:`start` (the window stays open)."""
        p = self.hwm() if self.exact else max(self._peak, self.rss())
        self.process_peak = max(self.process_peak, p)
        return p

    def stop(self):
        p = self.peak()
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        return p


# ====================================================================== the machine
def busy_cpu_s():
    """CPU seconds the whole machine has spent busy so far (all processes)."""
    import psutil

    t = psutil.cpu_times()
    return sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq"))


def _other_cpus(busy0, ru, wall):
    """Mean CPUs kept busy by *other* processes: the machine's busy time minus the child's, over wall time."""
    return max(0.0, (busy_cpu_s() - busy0) - (ru.ru_utime + ru.ru_stime)) / max(wall, 1e-9)


def wait_for_quiet(max_wait, threshold=0.3, log=print):
    """Wait (at most ``max_wait`` s) until other processes use < ``threshold`` CPUs."""
    if max_wait <= 0:
        return None
    import psutil

    ncpu = psutil.cpu_count() or 1
    t0 = time.perf_counter()
    told = False
    while True:
        busy = psutil.cpu_percent(interval=1.0) / 100 * ncpu
        if busy < threshold:
            return busy
        if time.perf_counter() - t0 > max_wait:
            log(f"    (machine still busy: {busy:.1f} CPUs used by other processes; running anyway)")
            return busy
        if not told:
            log(f"    (waiting for a quiet machine: {busy:.1f} CPUs busy)", flush=True)
            told = True


def mem_available_mb():
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


def wait_for_memory(need_mb, max_wait, log=print):
    """Wait (at most ``max_wait`` s) until the machine has ``need_mb`` available; returns what it has."""
    t0 = time.perf_counter()
    told = False
    while True:
        avail = mem_available_mb()
        if avail >= need_mb or time.perf_counter() - t0 > max_wait:
            if told:
                log(f"    (memory: {avail / 1024:.1f} GB available after {time.perf_counter() - t0:.0f} s)", flush=True)
            return avail
        if not told:
            log(f"    (waiting for memory: {avail / 1024:.1f} GB available, want {need_mb / 1024:.1f} GB; "
                "other processes hold the rest)", flush=True)
            told = True
        time.sleep(2)


def process_tree(pid):
    """pid and all its descendants (children of every thread, not just the main one)."""
    out = [pid]
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                kids = fh.read().split()
        except OSError:
            continue
        for c in kids:
            out += process_tree(int(c))
    return out


def tree_memory(pid):
    """(anonymous, total) resident memory of ``pid`` and its descendants, MiB (``RssAnon``, ``VmRSS``)."""
    anon = rss = 0.0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("RssAnon:"):
                        anon += int(line.split()[1]) / 1024
                    elif line.startswith("VmRSS:"):
                        rss += int(line.split()[1]) / 1024
        except OSError:
            pass
    return anon, rss


# ====================================================================== running a child
def child_env():
    """The environment of a measured child: the repository first on PYTHONPATH, Agg, no warnings."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["MPLBACKEND"] = "Agg"
    env["PYTHONWARNINGS"] = "ignore"
    env.pop("PYTHONSTARTUP", None)
    return env


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_measured(cmd, *, log, timeout, env):
    """Run ``cmd``; return (exit code, wall s, peak RSS MiB of the child, timed_out, other CPUs).

    ``other CPUs`` is the mean number of CPUs kept busy by *other* processes during the
    run (machine busy time minus the child's own CPU time, over the wall time): above
    ~0.2 the timing is disturbed.
    """
    with open(log, "w") as fh:
        busy0 = busy_cpu_s()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                start_new_session=True)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            _kill_group(proc.pid)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        except BaseException:
            kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        other = _other_cpus(busy0, ru, wall)
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc
    return rc, wall, maxrss_mb(ru.ru_maxrss), timed_out.is_set(), other


class _StageReader(threading.Thread):
    """Copies a child's output to its log and keeps the stage named by its latest ``STAGE_MARK`` line."""

    def __init__(self, proc, log):
        super().__init__(daemon=True)
        self.proc, self.log, self.stage = proc, log, "whole"

    def run(self):
        with open(self.log, "wb") as fh:
            for line in self.proc.stdout:
                fh.write(line)
                if line.startswith(STAGE_MARK.encode()):
                    self.stage = line[len(STAGE_MARK):].decode().strip()
        self.proc.stdout.close()


def _watch(proc, reader, t0, *, timeout, cap_mb, cap_on, poll):
    """Poll the tree's memory until the child exits; kill its group above the cap, the time-out or GUARD_MB."""
    w = dict(anon=0.0, rss=0.0, peaks={}, killed=None, killed_stage=None)
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return dict(w, status=status, ru=ru)
        anon, rss = tree_memory(proc.pid)
        w["anon"], w["rss"] = max(w["anon"], anon), max(w["rss"], rss)
        stage = reader.stage
        pk = w["peaks"].setdefault(stage, {"anon_mb": 0.0, "rss_mb": 0.0})
        pk["anon_mb"], pk["rss_mb"] = max(pk["anon_mb"], anon), max(pk["rss_mb"], rss)
        over = (rss if cap_on == "rss" else anon) > cap_mb
        late = time.perf_counter() - t0 > timeout
        low = mem_available_mb() < GUARD_MB
        if (over or late or low) and w["killed"] is None:
            w["killed"], w["killed_stage"] = ("cap" if over else "timeout" if late else "low-memory"), stage
            _kill_group(proc.pid)
        time.sleep(poll)


def run_watched(cmd, *, log, timeout, cap_mb, cap_on, poll, env):
    """Run ``cmd`` in its own process group, poll its tree's memory, enforce the cap and timeout.

    ``cap_on``: "rss" or "anon", the memory the cap applies to. Returns a dict: rc, wall_s,
    peak_anon_mb, peak_rss_mb, kernel_maxrss_mb (one process, from wait4), stage_peaks
    {stage: {anon_mb, rss_mb}} (from ``@@STAGE`` lines of the child), killed ('cap' / 'timeout' /
    'low-memory' / None), killed_stage, other_cpus.
    """
    busy0 = busy_cpu_s()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                            start_new_session=True)
    reader = _StageReader(proc, log)
    reader.start()
    w = _watch(proc, reader, t0, timeout=timeout, cap_mb=cap_mb, cap_on=cap_on, poll=poll)
    wall = time.perf_counter() - t0
    reader.join(timeout=10)
    rc = os.waitstatus_to_exitcode(w["status"])
    proc.returncode = rc
    if w["killed"]:  # leftovers of the group (e.g. Dask workers)
        _kill_group(proc.pid)
    kernel = maxrss_mb(w["ru"].ru_maxrss)
    return dict(rc=rc, wall_s=wall, peak_anon_mb=w["anon"], peak_rss_mb=max(w["rss"], kernel),
                polled_peak_rss_mb=w["rss"], kernel_maxrss_mb=kernel, stage_peaks=w["peaks"],
                killed=w["killed"], killed_stage=w["killed_stage"], other_cpus=_other_cpus(busy0, w["ru"], wall))
