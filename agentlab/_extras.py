"""The optional extras: a subpackage that needs one says which, when it is missing."""

from __future__ import annotations

import importlib


def require(package: str, extra: str, modules: tuple[str, ...]) -> None:
    """Import ``modules`` (the ``extra``'s); if one is missing, raise a
    :class:`ModuleNotFoundError` that names it, ``package`` and the pip command.

    A ``ModuleNotFoundError`` still (with the missing module's ``name``), so code that
    falls back on ``ImportError`` keeps working.
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            raise ModuleNotFoundError(
                f"{package} needs the {extra} extra ({', '.join(modules)}), and {e.name} is "
                f'missing: pip install "agentlab[{extra}]"',
                name=e.name,
            ) from e
