"""Plugin discovery: pluggy PluginManager over the entry-point group ``raysight.plugins``.

The built-in plugins (yolo, sam, resnet, ocr) register through the same entry points that a
third-party package uses; nothing here names them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import pluggy

from raysight import hookspecs
from raysight.backend import Backend, Operation
from raysight.errors import Invalid, NotFound

log = logging.getLogger(__name__)
GROUP = "raysight.plugins"


@dataclass
class PluginRegistry:
    """Discovered plugins and the backends they provide, keyed by backend name."""

    manager: pluggy.PluginManager
    backends: dict[str, Backend] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)  # backend name -> plugin (entry point) name
    model_names: dict[str, str] = field(default_factory=dict)  # "yolov8n.pt" -> backend name
    errors: dict[str, str] = field(default_factory=dict)  # plugin that failed to load -> reason

    def backend(self, name: str) -> Backend:
        try:
            return self.backends[name]
        except KeyError:
            raise NotFound(f"no plugin provides the model family '{name}'") from None

    def for_operation(self, name: str, operation: Operation) -> Backend:
        backend = self.backend(name)
        if not backend.supports(operation):
            raise Invalid(f"the '{name}' model family does not support {operation}")
        return backend

    def backend_for_model_name(self, model_name: str) -> Backend | None:
        """Resolve a client-facing model name (yolov8n.pt, resnet18, yolo11s.yaml...) to a backend."""
        key = model_name.strip().lower()
        if key in self.model_names:
            return self.backends[self.model_names[key]]
        stem = key.rsplit(".", 1)[0]
        for known, backend in self.model_names.items():
            if known.rsplit(".", 1)[0] == stem:
                return self.backends[backend]
        return None

    def describe(self) -> list[dict[str, object]]:
        out = []
        for name, backend in sorted(self.backends.items()):
            info = backend.describe()
            info["plugin"] = self.owners.get(name, name)
            out.append(info)
        return out


def load_plugins(allowlist: set[str] | None = None) -> PluginRegistry:
    """Discover every plugin of the entry-point group (restricted to `allowlist` if given)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = PluginRegistry(manager=pm)
    for ep in entry_points(group=GROUP):
        if allowlist is not None and ep.name not in allowlist:
            continue
        if pm.has_plugin(ep.name):
            continue
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin must not take the platform down
            log.warning("plugin %s failed to load: %s", ep.name, exc)
            registry.errors[ep.name] = f"{type(exc).__name__}: {exc}"
    pm.check_pending()
    for impl in pm.hook.raysight_backends.get_hookimpls():
        for backend in impl.function() or []:
            if not backend.name:
                registry.errors[impl.plugin_name] = "a backend without a name"
                continue
            if backend.name in registry.backends:
                log.warning("backend %s of %s shadows an earlier one", backend.name, impl.plugin_name)
            registry.backends[backend.name] = backend
            registry.owners[backend.name] = impl.plugin_name
    for mapping in pm.hook.raysight_model_names():
        for model_name, backend_name in (mapping or {}).items():
            if backend_name in registry.backends:
                registry.model_names[model_name.lower()] = backend_name
    return registry
