"""Plugin discovery: pluggy PluginManager over the entry-point group ``raysight.plugins``.

The built-in plugins (yolo, sam, resnet, ocr) register through the same entry points that a
third-party package uses; nothing here names them. A plugin is built in when its entry point belongs
to the ``raysight`` distribution itself.

Entry points are read in the order of their names, so discovery does not depend on sys.path order.
A backend name is unique: a later plugin (by entry-point name) that declares a name already taken is
refused (an error for that plugin in `errors`, shown by /plugins); its other backends still load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import pluggy

from raysight import hookspecs
from raysight.backend import Backend, Operation
from raysight.capabilities import Capability
from raysight.errors import Invalid, NotFound, Unavailable

log = logging.getLogger(__name__)
GROUP = "raysight.plugins"
CORE_DISTRIBUTION = "raysight"


@dataclass
class PluginRegistry:
    """Discovered plugins and the backends they provide, keyed by backend name."""

    manager: pluggy.PluginManager
    backends: dict[str, Backend] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)  # backend name -> plugin (entry point) name
    model_names: dict[str, str] = field(default_factory=dict)  # "yolov8n.pt" -> backend name
    errors: dict[str, str] = field(default_factory=dict)  # plugin that failed to load -> reason
    builtin: set[str] = field(default_factory=set)  # plugins shipped in the raysight distribution

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

    def providers(self, capability: Capability | str) -> list[Backend]:
        """Every loaded backend that declares `capability`, by name."""
        cap = Capability(capability)
        return [b for _, b in sorted(self.backends.items()) if b.provides(cap)]

    def for_capability(self, capability: Capability | str, *, prefer: str | None = None,
                       requires: tuple[Capability, ...] = ()) -> Backend:
        """The backend that provides `capability` (and every capability in `requires`): the one named by
        `prefer` (configuration: RAYSIGHT_CAPABILITY_PROVIDERS), else the only one, else the only built-in
        one. Unavailable when none provides it or the preferred one cannot; Invalid when several do and
        nothing says which."""
        cap = Capability(capability)
        found = [b for b in self.providers(cap) if all(b.provides(r) for r in requires)]
        what = " + ".join([cap.value, *(r.value for r in requires)])
        if prefer:
            chosen = next((b for b in found if b.name == prefer), None)
            if chosen is None:
                state = "does not provide it" if prefer in self.backends else "is not loaded"
                raise Unavailable(f"'{prefer}', configured to provide {what} (RAYSIGHT_CAPABILITY_PROVIDERS), "
                                  f"{state}", code="capability_unavailable")
            return chosen
        if len(found) == 1:
            return found[0]
        if not found:
            raise Unavailable(f"no loaded plugin provides {what}", code="capability_unavailable")
        builtin = [b for b in found if self.owners.get(b.name) in self.builtin]
        if len(builtin) == 1:
            return builtin[0]
        names = ", ".join(b.name for b in found)
        raise Invalid(f"several plugins provide {cap.value} ({names}): choose one with "
                      f"RAYSIGHT_CAPABILITY_PROVIDERS={cap.value}=<name>", code="capability_ambiguous")

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
    order: list[str] = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        if allowlist is not None and ep.name not in allowlist:
            continue
        if pm.has_plugin(ep.name):
            continue
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
            order.append(ep.name)
            if ep.dist is not None and ep.dist.name == CORE_DISTRIBUTION:
                registry.builtin.add(ep.name)
        except Exception as exc:  # a broken plugin must not take the platform down
            log.warning("plugin %s failed to load: %s", ep.name, exc)
            registry.errors[ep.name] = f"{type(exc).__name__}: {exc}"
    pm.check_pending()
    rank = {name: i for i, name in enumerate(order)}
    impls = sorted(pm.hook.raysight_backends.get_hookimpls(), key=lambda i: rank.get(i.plugin_name, len(rank)))
    for impl in impls:
        for backend in impl.function() or []:
            _add_backend(registry, impl.plugin_name, backend)
    for impl in pm.hook.raysight_model_names.get_hookimpls():
        for model_name, backend_name in (impl.function() or {}).items():
            if registry.owners.get(backend_name) == impl.plugin_name:  # a plugin names its own backends' models
                registry.model_names[model_name.lower()] = backend_name
    return registry


def _add_backend(registry: PluginRegistry, plugin_name: str, backend: Backend) -> None:
    problem = None
    if not isinstance(backend, Backend):
        problem = f"{type(backend).__name__} is not a raysight.plugin.Backend"
    elif not backend.name:
        problem = "a backend without a name"
    elif backend.name in registry.backends:
        problem = (f"backend name '{backend.name}' is already taken by plugin "
                   f"'{registry.owners[backend.name]}': this one is not used")
    if problem is not None:
        log.error("plugin %s: %s", plugin_name, problem)
        previous = registry.errors.get(plugin_name)
        registry.errors[plugin_name] = f"{previous}; {problem}" if previous else problem
        return
    registry.backends[backend.name] = backend
    registry.owners[backend.name] = plugin_name
