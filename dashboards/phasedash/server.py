"""The Voilà server's side of a class: the kernels of closed pages stop soon, idle pages' kernels later.

Voilà's page asks the server to shut its kernel down when it closes (a ``beforeunload`` beacon).
Voilà 0.5 sends that request without the ``_xsrf`` cookie it never set, and the server refuses it
(403): ``dashboards/voila.json`` turns the XSRF check off (``disable_check_xsrf``) so that closed
pages free their kernels at once. Voilà's server has no login to protect, and the requests that
change anything name a kernel by its random id. A browser that
crashes, a laptop put to sleep or a lost network never ask. Jupyter's culling
(``MappingKernelManager.cull_idle_timeout``) stops kernels idle for a time, connected or not;
:class:`ClassroomKernelManager` adds a shorter time for kernels that no page is connected to
(``cull_disconnected_timeout``). ``dashboards/voila.json`` sets both; this module imports no
widget code (the server loads it).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import weakref

from jupyter_client.connect import LocalPortCache
from jupyter_server._tz import utcnow
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from traitlets import Float, Integer, Unicode

#: the page a class opens: its kernels are kept ready (``class_size``)
GUIDED_PAGE = "phase_mapping.ipynb"


def ephemeral_ports():
    """The system's range of ports for outgoing connections ``(low, high)`` (Linux's; 32768-60999 elsewhere)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(v) for v in f.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def pool_target(size, in_use, spare):
    """Ready kernels a page's pool should hold when refilled: ``size`` less the kernels in use (a class in
    the room holds its own), never fewer than ``spare`` (for latecomers) nor more than ``size``."""
    size = max(int(size), 0)
    return min(size, max(int(spare), size - int(in_use)))


class KernelPorts(LocalPortCache):
    """Kernel ports chosen below the range of outgoing connections' ports.

    Jupyter picks a kernel's five ports by binding to port 0 (a port of that range), then starts the
    kernel, which binds them seconds later on a busy server. Meanwhile the server's own connections to the
    other kernels take ports of the same range: thirty kernels starting together lost one now and then
    ("Address already in use"). Ports below the range are never given to an outgoing connection.
    """

    _random = random.Random()

    def find_available_port(self, ip):
        low = ephemeral_ports()[0]
        for _ in range(500):
            port = self._random.randrange(max(1024, low - 10000), low)
            if port in self.currently_used_ports:
                continue
            with socket.socket() as probe:
                try:
                    probe.bind((ip, port))
                except OSError:
                    continue
            self.currently_used_ports.add(port)
            return port
        return super().find_available_port(ip)


class ClassroomKernelManager(AsyncMappingKernelManager):
    """Keeps ``class_size`` kernels ready for the guided page, refills them when the server is quiet (to
    ``class_size`` less the kernels in use, at least ``class_spare``), never gives a page a ready kernel that
    died, and culls the kernels whose page went away ``cull_disconnected_timeout`` seconds ago.

    Only kernels that had a page connected and lost it: a kernel whose page is still loading (on a
    busy server, a minute or more after its notebook ran) is left to ``cull_idle_timeout``. Only
    while culling is on (``cull_idle_timeout > 0``), at each ``cull_interval``; a busy kernel is
    left alone.
    """

    cull_disconnected_timeout = Integer(
        1200, config=True,
        help="Seconds after its last page went away (and it went idle) that a kernel is shut down (0: never).")

    class_size = Integer(
        0, config=True,
        help="Kernels kept ready (preheated: dashboard imported) for the guided page, for a class arriving "
             "at once (0: as Voilà's kernel_pools_config says). `CLASS_SIZE=N ./scripts/serve.sh` sets it.")
    refill_when_quiet = Float(
        90.0, config=True,
        help="Seconds without a page opening before used ready kernels are replaced (0: at once, as Voilà "
             "does). A class arriving spends the server's CPU on its pages, not on starting kernels for later.")
    class_spare = Integer(
        3, config=True,
        help="Ready kernels kept for latecomers while a class is in: a refill brings the guided page's pool to "
             "class_size less the kernels in use, never under this (30 more ready kernels for a class of 30 "
             "already in would double the server's memory); it grows back as the class's kernels end.")
    guided_page = Unicode(GUIDED_PAGE, config=True, help="The notebook whose kernels `class_size` keeps ready.")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._page_gone = {}  # kernel id -> when its last connection closed
        self._refill = {}  # notebook -> timer of its pending refill
        pools = getattr(self, "kernel_pools_config", None)  # set when Voilà preheats (its subclass of this one)
        if pools is not None and self.class_size > 0:
            pools = dict(pools)
            pools[self.guided_page] = {**pools.get(self.guided_page, pools.get("default", {})),
                                       "pool_size": int(self.class_size)}
            self.kernel_pools_config = pools
        if not LocalPortCache.initialized():  # Jupyter's cache of kernel ports: ours, before any kernel starts
            KernelPorts.instance()
        self._ready_process = {}  # kernel id -> its process when it became ready (a restart makes another)
        fill = getattr(self, "fill_if_needed", None)
        if fill is not None:
            fill = self._noting_processes(fill)
            self.fill_if_needed = self._refill_later(fill) if self.refill_when_quiet > 0 else fill
        if pools is not None:  # Voilà's pool: a page is never given a ready kernel that died meanwhile
            size, rendered = self.get_pool_size, self.get_rendered_notebook

            def get_pool_size(notebook_name):
                self._drop_broken(notebook_name)
                return size(notebook_name)

            async def get_rendered_notebook(notebook_name, *args, **kwargs):
                self._drop_broken(notebook_name)
                out = await rendered(notebook_name, *args, **kwargs)  # (render task, cells, kernel id)
                self._ready_process.pop(out[2], None)
                return out

            self.get_pool_size, self.get_rendered_notebook = get_pool_size, get_rendered_notebook

    def _process(self, kernel_id):
        """The kernel's OS process (a ``subprocess.Popen``), or None."""
        return getattr(getattr(self._kernels.get(kernel_id), "provisioner", None), "process", None)

    def _noting_processes(self, fill):
        """``fill`` that notes the process of each ready kernel it starts, when it becomes ready."""
        def noted(task):
            if not task.cancelled() and task.exception() is None:
                kid = task.result().get("kernel_id")
                self._ready_process[kid] = self._process(kid)

        seen = weakref.WeakSet()

        def fill_if_needed(*args, notebook_name=None, **kwargs):
            out = fill(*args, notebook_name=notebook_name, **kwargs)
            for item in getattr(self, "_pools", {}).get(notebook_name, ()):
                if item not in seen:
                    seen.add(item)
                    item.add_done_callback(noted)
            return out
        return fill_if_needed

    def _usable(self, item):
        """False for a ready kernel that cannot serve a page: it failed to start, its notebook failed to run,
        or its process died since it was ready (removed, or restarted: a new process without the page's
        widgets). A kernel still starting is usable (Voilà waits for it)."""
        if not item.done():
            return True
        if item.cancelled() or item.exception() is not None:
            return False
        content = item.result()
        render = content.get("task")
        if render is not None and render.done() and (render.cancelled() or render.exception() is not None):
            return False
        kid = content.get("kernel_id")
        proc = self._process(kid)
        return proc is not None and proc is self._ready_process.get(kid, proc) and proc.poll() is None

    def _drop_broken(self, notebook_name):
        """Take the ready kernels that cannot serve a page out of ``notebook_name``'s pool; shut them down
        and have the pool refilled (when the server is quiet)."""
        pool = getattr(self, "_pools", {}).get(notebook_name)
        broken = [item for item in pool or () if not self._usable(item)]
        for item in broken:
            pool.remove(item)
            kid = None if item.cancelled() or item.exception() is not None else item.result().get("kernel_id")
            self.log.warning("A ready kernel of %s (%s) died before its page came: not given to a page.",
                             notebook_name, kid or "not started")
            self._ready_process.pop(kid, None)
            if kid in self:
                asyncio.ensure_future(self.shutdown_kernel(kid, now=True))
        if broken:
            self.fill_if_needed(notebook_name=notebook_name)

    def _refill_later(self, fill):
        """Voilà's ``fill_if_needed``, its refills after a page took a ready kernel put off until the server is
        quiet: no page opened for ``refill_when_quiet`` seconds and a load average under the number of CPUs
        (checked again every 30 s, for at most 10 minutes). Meanwhile the pool holds only started kernels: a
        page that finds none ready gets a new kernel at once (Voilà's own path), never a refill still waiting."""
        def fill_if_needed(delay=None, notebook_name=None, **kwargs):
            if delay is not None:  # the start: fill now
                return fill(delay=delay, notebook_name=notebook_name, **kwargs)
            old = self._refill.pop(notebook_name, None)
            if old is not None:
                old.cancel()
            loop = asyncio.get_event_loop()
            asked = loop.time()

            def when_quiet():
                busy = os.getloadavg()[0] > (os.cpu_count() or 1)
                if busy and loop.time() - asked < 600:
                    self._refill[notebook_name] = loop.call_later(30, when_quiet)
                    return
                self._refill.pop(notebook_name, None)
                entry = self.kernel_pools_config.get(notebook_name)
                if notebook_name != self.guided_page or self.class_size <= 0 or entry is None:
                    fill(delay=0, notebook_name=notebook_name, **kwargs)
                    return
                pooled = {i.result().get("kernel_id") for pool in self._pools.values() for i in pool
                          if i.done() and not i.cancelled() and i.exception() is None}
                in_use = len([k for k in list(self._kernels) if k not in pooled])
                # Voilà's fill reads the pool's size from its configuration when called
                self.kernel_pools_config[notebook_name] = {
                    **entry, "pool_size": pool_target(self.class_size, in_use, self.class_spare)}
                try:
                    fill(delay=0, notebook_name=notebook_name, **kwargs)
                finally:
                    self.kernel_pools_config[notebook_name] = entry

            self._refill[notebook_name] = loop.call_later(self.refill_when_quiet, when_quiet)
            return None
        return fill_if_needed

    async def shutdown_kernel(self, kernel_id, *args, **kwargs):
        out = await super().shutdown_kernel(kernel_id, *args, **kwargs)
        if getattr(self, "_pools", None) is not None and self.class_size > 0 and self.refill_when_quiet > 0:
            self.fill_if_needed(notebook_name=self.guided_page)  # a class leaving: the pool grows back, when quiet
        return out

    def notify_connect(self, kernel_id):
        super().notify_connect(kernel_id)
        self._page_gone.pop(kernel_id, None)

    def notify_disconnect(self, kernel_id):
        super().notify_disconnect(kernel_id)
        if kernel_id in self._kernels and not self._kernel_connections.get(kernel_id, 0):
            self._page_gone[kernel_id] = utcnow()

    async def cull_kernel_if_idle(self, kernel_id):
        kernel, gone = self._kernels.get(kernel_id), self._page_gone.get(kernel_id)
        limit = self.cull_disconnected_timeout
        if (kernel is not None and gone is not None and limit > 0 and not self._kernel_connections.get(kernel_id, 0)
                and getattr(kernel, "execution_state", None) != "busy"):
            idle = (utcnow() - max(gone, getattr(kernel, "last_activity", gone))).total_seconds()
            if idle > limit:
                self.log.warning("Culling kernel %s: its page went away %d s ago.", kernel_id, idle)
                self._page_gone.pop(kernel_id, None)
                await self.shutdown_kernel(kernel_id)
                return None
        for stale in [k for k in self._page_gone if k not in self._kernels]:
            self._page_gone.pop(stale, None)
        return await super().cull_kernel_if_idle(kernel_id)
