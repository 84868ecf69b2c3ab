"""Dask for ``map`` and ``precompute``: ``--scheduler`` (a running cluster, checked before use) or ``--workers`` (a
local cluster that the terminal's Ctrl-C does not kill)."""

from __future__ import annotations

import contextlib
import sys
import warnings

#: seconds a scheduler has to greet a new connection (a Dask scheduler does at once)
SCHEDULER_WAIT = 10


def _check_scheduler(address, wait=None):
    """Refuse a ``tcp://`` address where no Dask scheduler answers: distributed's own connection waits for ever on a
    server that says nothing (an HTTP server: the dashboard's port typed for the scheduler's) and reads another
    service's greeting as a frame length (an out-of-memory error). A Dask scheduler greets each connection with its
    handshake (msgpack holding ``compression`` and ``pickle-protocol``)."""
    import socket

    wait = SCHEDULER_WAIT if wait is None else wait
    text = str(address)
    if "://" in text and not text.startswith("tcp://"):  # tls needs certificates, inproc a scheduler in this process
        raise ValueError(f"--scheduler wants tcp://HOST:PORT (a scheduler's address as `dask scheduler` prints it), "
                         f"got {text.split('://', 1)[0]}://...")
    host, _, port = text.split("://", 1)[-1].rpartition(":")
    try:
        port = int(port)
    except ValueError:
        raise ValueError(f"--scheduler wants tcp://HOST:PORT, got {address!r}.") from None
    if not 0 < port < 65536:
        raise ValueError(f"--scheduler: {port} is no port number (1 to 65535).")
    try:
        sock = socket.create_connection((host.strip("[]"), port), timeout=wait)
    except OSError as exc:  # refused, unreachable, no route within the wait
        raise ValueError(f"Could not connect to a Dask scheduler at {address} ({type(exc).__name__}).") from None
    greeting = b""
    with sock:
        try:
            while len(greeting) < 256 and b"pickle-protocol" not in greeting:
                chunk = sock.recv(256)
                if not chunk:
                    break
                greeting += chunk
        except OSError:  # silent past the wait (socket.timeout is an OSError), or reset
            pass
    if b"pickle-protocol" not in greeting:
        raise ValueError(f"No Dask scheduler answers at {address} (it did not greet as one within {wait} s: "
                         f"a dashboard or another service's port?).")


@contextlib.contextmanager
def _local_cluster(n_workers):
    """A local cluster whose workers do not take the terminal's Ctrl-C; one given while it starts is said after.

    A terminal's Ctrl-C goes to the whole process group: workers that took it died with 60-86 lines of tracebacks.
    They are forked by a multiprocessing fork server started with SIGINT ignored, which they inherit. This process
    ignores it only for the fork server's fork and exec (milliseconds): ignored while the whole cluster started (2-10
    s), a Ctrl-C was lost, because the thread that the kernel gave it to (BLAS's, dask's) dropped it. Meanwhile a
    Ctrl-C is kept, and raised once the cluster can be closed.
    """
    import multiprocessing
    import signal

    import dask
    from distributed import LocalCluster

    caught = []

    def keep(signum, frame):
        caught.append(signum)

    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    before = signal.signal(signal.SIGINT, keep)
    try:
        with dask.config.set({"distributed.worker.multiprocessing-method": method}):
            if method == "forkserver":
                from multiprocessing import forkserver
                with contextlib.suppress(ImportError):  # (distributed's helper; without it the server imports less)
                    from distributed.utils import get_mp_context
                    get_mp_context()  # the fork server's imports (distributed, numpy...): workers start the faster
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                try:
                    forkserver.ensure_running()
                finally:
                    signal.signal(signal.SIGINT, keep)
            else:  # no fork server (Windows): workers spawned while SIGINT is ignored inherit it; a Ctrl-C meanwhile
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # may be lost, as before
            with warnings.catch_warnings():  # its HTTP server on another port where 8787 is taken: not the user's
                warnings.filterwarnings("ignore", message=r"Port \d+ is already in use")
                cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, dashboard_address=None)
    finally:
        signal.signal(signal.SIGINT, before)
    with cluster:
        if caught:
            raise KeyboardInterrupt
        yield cluster


@contextlib.contextmanager
def dask_client(args):
    """A dask.distributed client for --scheduler / --workers, else None."""
    if not (args.scheduler or args.workers):
        yield None
        return
    import importlib.util
    if importlib.util.find_spec("distributed") is None:
        raise ValueError("--scheduler/--workers need dask.distributed: pip install 'phaselib[cluster]'")
    if args.scheduler:
        from distributed import Client
        _check_scheduler(args.scheduler)
        try:
            client = Client(args.scheduler, timeout=SCHEDULER_WAIT)
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"Could not connect to a Dask scheduler at {args.scheduler} ({type(exc).__name__}).") \
                from None
        with client:
            _wait_for_workers(client, args.scheduler)
            yield client
    else:
        from distributed import Client
        with _local_cluster(args.workers) as cluster, Client(cluster) as client:
            yield client


#: seconds a scheduler with no worker is waited for before the command stops
WORKER_WAIT = 60


def _wait_for_workers(client, address):
    """A scheduler with no worker is said at once, waited for up to :data:`WORKER_WAIT` s, then refused (the
    command waited for ever, without a word)."""
    if client.scheduler_info().get("workers"):
        return
    print(f"phaselib: note: the Dask scheduler at {address} has no worker yet; waiting up to {WORKER_WAIT} s for "
          "one", file=sys.stderr)
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT)
    except TimeoutError:
        raise ValueError(f"The Dask scheduler at {address} has no worker ({WORKER_WAIT} s waited): start one "
                         f"(dask worker {address}) or leave out --scheduler.") from None
