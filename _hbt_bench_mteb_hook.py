"""Autoload hook: register hbt-bench's tasks with mteb in every Python process.

mteb 2.26 builds its task registry once, at import time, and offers no plugin entry point. The
``hbt_bench_autoload.pth`` file next to this module imports it at interpreter start-up; it only
installs a tiny ``sys.meta_path`` finder that waits until ``mteb/__init__`` has finished executing and
then calls ``hbt_bench.register()``. Nothing is imported eagerly: the finder and loader are plain
classes (``sys.meta_path`` needs only ``find_spec``; ``importlib.abc`` alone costs ~60 modules and tens of
milliseconds on every interpreter start), and only modules that ``site`` has already loaded are used.

Set ``HBT_BENCH_NO_AUTOLOAD=1`` to switch it off (the ``.pth`` line then does not even import this
module); ``import hbt_bench; hbt_bench.register()`` then registers explicitly.
"""

import os
import sys


class _Loader:
    def __init__(self, wrapped, finder):
        self._wrapped, self._finder = wrapped, finder

    def __getattr__(self, name):  # resource readers and the like
        return getattr(self._wrapped, name)

    def create_module(self, spec):
        return self._wrapped.create_module(spec)

    def exec_module(self, module):
        self._wrapped.exec_module(module)  # mteb/__init__ runs to completion first
        # Removed here and not in find_spec: runpy (`python -m mteb`) calls find_spec twice.
        if self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        if os.environ.get("HBT_BENCH_NO_AUTOLOAD"):
            return
        try:
            from hbt_bench.plugin.register import register

            register()
        except Exception as exc:  # never break `import mteb` for the user
            print(f"[hbt-bench] could not register tasks with mteb: {exc!r}", file=sys.stderr)


class _Finder:
    def find_spec(self, fullname, path, target=None):
        if fullname != "mteb":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and not isinstance(spec.loader, _Loader):
            spec.loader = _Loader(spec.loader, self)
        return spec


if (
    not os.environ.get("HBT_BENCH_NO_AUTOLOAD")
    and "mteb" not in sys.modules
    and not any(type(f).__module__ == __name__ for f in sys.meta_path)
):
    sys.meta_path.insert(0, _Finder())
