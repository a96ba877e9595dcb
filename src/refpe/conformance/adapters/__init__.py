"""Adapters: every module in this package registers the subjects of one library.

A module imports its library lazily (inside each ``call``), so importing the package costs
nothing and a library that is not installed is reported as skipped with the reason. Modules
whose names start with ``_`` hold shared helpers and register nothing.
"""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
