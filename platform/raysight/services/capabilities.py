"""The provider of a capability for this platform: the plugin registry's choice under the configured
preferences (RAYSIGHT_CAPABILITY_PROVIDERS). Services call this instead of naming a plugin; calls that
several dialects make through a capability (reading text) live here too."""

from __future__ import annotations

from typing import Any

import numpy as np

from raysight.backend import Backend
from raysight.capabilities import Capability, RunOp
from raysight.context import Platform


def provider(ctx: Platform, capability: Capability, *, requires: tuple[Capability, ...] = ()) -> Backend:
    """The backend that serves `capability` here (Unavailable / Invalid from the registry otherwise)."""
    prefer = ctx.settings.capability_preferences.get(str(capability))
    return ctx.plugins.for_capability(capability, prefer=prefer, requires=requires)


async def read_text(*, ctx: Platform, image: np.ndarray) -> dict[str, Any]:
    """{"engine", "lines": [{"box": 4 [x, y] points, "text", "score"}]} for one RGB image, from the
    built-in model of the `read_text` provider."""
    from raysight.services import inference

    backend = provider(ctx, Capability.READ_TEXT)
    return await inference.call(ctx=ctx, backend=backend.name, model_key=backend.builtin_key(),
                                op=str(RunOp.READ_TEXT), payload={"image": image})
