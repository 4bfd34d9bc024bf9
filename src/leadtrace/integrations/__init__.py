"""Integrations: one module per framework or vendor library, imported on demand.

Importing a module whose library is not installed raises an :class:`ImportError` that names
the extra to install, e.g. ``pip install 'leadtrace[fastapi]'``. Web frameworks:

- :mod:`leadtrace.integrations.asgi`: ``LeadtraceMiddleware`` for Starlette / FastAPI.
- :mod:`leadtrace.integrations.flask`: ``init_app(app)``.
- :mod:`leadtrace.integrations.django`: ``"leadtrace.integrations.django.LeadtraceMiddleware"``.

The channel table they share (:data:`DEFAULT_CHANNEL_RULES`, :class:`ChannelRules`,
:class:`ChannelRule`) is exported here; see ``docs/integrations/web.md``.
"""

from __future__ import annotations

from leadtrace.integrations._attribution import (
    DEFAULT_CHANNEL_RULES,
    ChannelRule,
    ChannelRules,
)

__all__ = ["DEFAULT_CHANNEL_RULES", "ChannelRule", "ChannelRules", "missing_extra"]


def missing_extra(module: str, library: str, extra: str, exc: ImportError) -> ImportError:
    """An :class:`ImportError` for ``module`` saying which extra provides ``library``.

    Use as ``raise missing_extra(__name__, "flask", "flask", exc) from exc``.
    """
    return ImportError(
        f"{module} needs {library}, which is not installed ({exc}); "
        f"install it with: pip install 'leadtrace[{extra}]'"
    )
