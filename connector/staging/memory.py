"""Which Arrow memory pool a staging process allocates from, and how soon it gives memory back.

pyarrow's default pool on Linux is mimalloc, which keeps freed pages resident for a while and
per thread. Staging frees memory as fast as it allocates it (every chunk parsed and every row
group encoded is dropped a moment later, from five threads), so on the 1 GiB CSV benchmark
mimalloc held 282-294 MiB of peak RSS where Arrow itself had about 60 MiB allocated. jemalloc with
its decay time at 0 returns freed pages at once: 229-233 MiB, paid for in page faults when the
memory is needed again (a few percent of CPU; docs/staging.md has the numbers).
``ARROW_MEMORY_POOL`` chooses: ``jemalloc`` (the default; pyarrow's default where a wheel lacks
jemalloc), ``mimalloc``, ``system`` or ``default``.
"""

from __future__ import annotations

import logging
import threading

import pyarrow as pa

from connector.config import ARROW_MEMORY_POOLS as POOLS

log = logging.getLogger(__name__)
_lock = threading.Lock()
_configured: dict[str, str] = {}


def configure_arrow_memory(pool: str = "jemalloc") -> str:
    """Make ``pool`` this process's default Arrow memory pool (once; later calls with the same
    name do nothing) and return the backend now in use. Buffers allocated before keep the pool
    they came from, so switching while other threads allocate is safe."""
    if pool not in POOLS:
        raise ValueError(f"unknown Arrow memory pool {pool!r}: expected one of {', '.join(POOLS)}")
    with _lock:
        if pool in _configured:
            return _configured[pool]
        if pool == "jemalloc":
            try:
                pa.set_memory_pool(pa.jemalloc_memory_pool())
                pa.jemalloc_set_decay_ms(0)
            except NotImplementedError:  # a build without jemalloc: keep pyarrow's default
                log.info("pyarrow has no jemalloc here; staging uses %s",
                         pa.default_memory_pool().backend_name)
        elif pool == "mimalloc":
            pa.set_memory_pool(pa.mimalloc_memory_pool())
        elif pool == "system":
            pa.set_memory_pool(pa.system_memory_pool())
        _configured.clear()
        _configured[pool] = pa.default_memory_pool().backend_name
        return _configured[pool]
