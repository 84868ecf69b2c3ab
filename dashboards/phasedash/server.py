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

from jupyter_server._tz import utcnow
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from traitlets import Integer


class ClassroomKernelManager(AsyncMappingKernelManager):
    """Culls the kernels whose page went away ``cull_disconnected_timeout`` seconds ago.

    Only kernels that had a page connected and lost it: a kernel whose page is still loading (on a
    busy server, a minute or more after its notebook ran) is left to ``cull_idle_timeout``. Only
    while culling is on (``cull_idle_timeout > 0``), at each ``cull_interval``; a busy kernel is
    left alone.
    """

    cull_disconnected_timeout = Integer(
        1200, config=True,
        help="Seconds after its last page went away (and it went idle) that a kernel is shut down (0: never).")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._page_gone = {}  # kernel id -> when its last connection closed

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
