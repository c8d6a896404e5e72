"""Where the n-gram family's compiled (numba) kernels are cached, and the announcement of their first compilation.

The kernels (ARPA writing and reading, `arpa.py`) compile on first use; numba's `cache=True` would write the machine
code into the package's own `__pycache__` (which fails, or pollutes, a read-only install), so each kernel gets a
numba cache in the user cache folder instead, and a compilation (a cache miss) is announced through the `hf_models`
logger. The same machinery as word2vec's kernels, copied (a saved folder imports only its own siblings) and kept
identical by tests/test_copies.py.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from numba.core import caching as _caching
from numba.core import event as _event

logger = logging.getLogger(__name__)


# Copied from hf_models.word2vec.kernels.kernel_cache_dir
def kernel_cache_dir() -> str:
    """The folder under which the compiled kernels are cached (each source folder in a subfolder, as numba does).

    `NUMBA_CACHE_DIR` when set (numba's own setting), else `$HF_MODELS_CACHE/numba`, else
    `$XDG_CACHE_HOME/hf_models/numba`, by default `~/.cache/hf_models/numba`.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    root = os.environ.get("HF_MODELS_CACHE")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                            "hf_models")
    return os.path.join(root, "numba")


# Copied from hf_models.word2vec.kernels.UserCacheLocator
class UserCacheLocator(_caching._SourceFileBackedLocatorMixin, _caching._CacheLocator):
    """numba cache locator for these kernels: `kernel_cache_dir()`/<source folder>_<hash of its path>/.

    Like numba's own locators, it declines (and the next one is tried) when the folder cannot be created or written.
    """

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = os.path.join(kernel_cache_dir(), self.get_suitable_cache_subpath(py_file))

    def get_cache_path(self) -> str:
        return self._cache_path


# numba's user-wide cache (~/.cache/numba) is the fallback; the package's own __pycache__ is never used
try:
    _FALLBACK_LOCATOR = _caching.UserWideCacheLocator
except AttributeError:  # older numba (0.60) names it with an underscore
    _FALLBACK_LOCATOR = _caching._UserWideCacheLocator


# Copied from hf_models.word2vec.kernels._KernelCacheImpl
class _KernelCacheImpl(_caching.CompileResultCacheImpl):
    _locator_classes = (UserCacheLocator, _FALLBACK_LOCATOR)


# Copied from hf_models.word2vec.kernels._KernelCache
class _KernelCache(_caching.FunctionCache):
    """numba's per-function cache (index .nbi + data .nbc files) with the locators above."""

    _impl_class = _KernelCacheImpl


# Copied from hf_models.word2vec.kernels._use_user_cache with word2vec->n-gram
def _use_user_cache(dispatcher) -> None:
    """Cache `dispatcher` on disk in the user cache folder (what numba's `enable_caching` does with its locators)."""
    try:
        dispatcher._cache = _KernelCache(dispatcher.py_func)
    except RuntimeError:  # no writable folder: compile in every process instead
        logger.warning(
            f"cannot cache the compiled n-gram kernel {dispatcher.__name__}: neither {kernel_cache_dir()} nor "
            "numba's user cache folder is writable; set HF_MODELS_CACHE (or NUMBA_CACHE_DIR) to a writable folder"
        )


# Copied from hf_models.word2vec.kernels._CompileAnnouncer with word2vec->n-gram
class _CompileAnnouncer(_event.Listener):
    """Logs when a kernel compiles (a cache miss: numba loads a cached kernel without this event), so that the
    one-time wait is not silent: a warning when a kernel called from Python starts compiling (once per kernel and
    process; the helpers it compiles along the way are not announced again), and how long it took."""

    def __init__(self, dispatchers):
        self._ids = {id(dispatcher) for dispatcher in dispatchers}
        self._announced: set[str] = set()
        self._running = threading.local()  # per thread: the start of the outermost kernel compilation, its depth

    def on_start(self, event) -> None:
        dispatcher = event.data.get("dispatcher")
        if id(dispatcher) not in self._ids:
            return
        depth = getattr(self._running, "depth", 0)
        self._running.depth = depth + 1
        if depth:  # a helper compiled while the kernel that calls it compiles
            return
        self._running.start = time.perf_counter()
        name = dispatcher.__name__
        if name in self._announced:
            return
        self._announced.add(name)
        cache = dispatcher._cache
        where = (f"it is cached in {cache.cache_path} for later runs" if isinstance(cache, _KernelCache)
                 else "it cannot be cached (no writable cache folder)")
        logger.warning(
            f"Compiling the n-gram kernel {name} with numba: a one-time wait of about 5-30 s on first use (minutes "
            f"on a busy machine); {where}"
        )

    def on_end(self, event) -> None:
        dispatcher = event.data.get("dispatcher")
        if id(dispatcher) not in self._ids:
            return
        self._running.depth = depth = max(getattr(self._running, "depth", 1) - 1, 0)
        if depth == 0:
            seconds = time.perf_counter() - getattr(self._running, "start", time.perf_counter())
            logger.info(f"compiled the n-gram kernel {dispatcher.__name__} in {seconds:.1f}s")


def cache_and_announce(*dispatchers) -> None:
    """Cache each numba dispatcher in the user cache folder and announce its compilations (call once per module)."""
    for dispatcher in dispatchers:
        _use_user_cache(dispatcher)
    _event.register("numba:compile", _CompileAnnouncer(dispatchers))


__all__ = ["cache_and_announce", "kernel_cache_dir"]
