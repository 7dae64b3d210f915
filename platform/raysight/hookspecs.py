"""THE plugin contract. A plugin is any module registered under the entry-point group
``raysight.plugins`` that implements some of these hooks with ``@hookimpl``.

Example (a third-party package's ``pyproject.toml``)::

    [project.entry-points."raysight.plugins"]
    mymodel = "mymodel_raysight"

and in ``mymodel_raysight/__init__.py`` (a plugin imports only ``raysight.plugin``; docs/plugins.md)::

    from raysight.plugin import Backend, hookimpl

    class MyBackend(Backend): ...

    @hookimpl
    def raysight_backends():
        return [MyBackend()]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from raysight.backend import Backend

PROJECT = "raysight"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def raysight_backends() -> list[Backend]:
    """Return the model backends this plugin provides.

    Each backend declares its ``name`` (unique across plugins: a later plugin's backend of a taken
    name is refused at discovery; it is also the name of the Serve deployment that hosts it and its
    key under ``models:`` in serve_config.yaml), its ``task`` (detect / segment / classify / ocr /
    ...), the ``operations`` it supports (predict, train, evaluate, export), the ``capabilities``
    services may ask it for (raysight.capabilities), its ``default_model_name``, ``default_params``
    and the ``dataset_formats`` it can train on. A family that takes weights files implements
    ``check_weights(path, *, arch=None) -> WeightsInfo`` (load without running anything from the file,
    keys and shapes against the architecture, ``InvalidWeights`` otherwise) and ``weights_names()`` (the
    file names it looks up in the weights folder). Called once per process when plugins load.
    """


@hookspec
def raysight_model_names() -> dict[str, str]:
    """Map model names a client may ask for (``yolov8n.pt``, ``resnet18``...) to a backend name of
    this plugin (names mapped to another plugin's backend are ignored).

    Training resolves ``model_name`` through these maps to choose the plugin that owns a job.
    """
