"""What a model family can do, as the platform's services ask for it.

Services never name a plugin: they ask the plugin registry for the provider of a capability
(``ctx.plugins.for_capability(Capability.READ_TEXT, prefer=...)``, or services.capabilities.provider),
so a third-party plugin replaces a built-in one by configuration (RAYSIGHT_CAPABILITY_PROVIDERS).

A family declares its capabilities in ``Backend.capabilities``. Each capability fixes the calls the
platform makes and the shapes it expects back; the ones served through ``Backend.run(model, op,
payload)`` use the operation names below (payloads and answers are plain dicts, so they cross Ray):

- ``detect`` / ``classify``: ``Backend.predict`` answers Detection lists (classification: the whole
  image as the box).
- ``segment_with_prompts``: ``run`` ops ``embed`` ({image} -> {image_hash, weights, model_type,
  segmenter, size}), ``prompt`` ({image | image_hash, points?, labels?, boxes?, return_masks?} ->
  {..., masks: [{bbox [x, y, w, h], score, area, rle?, prompt_box?}], timings}) and ``auto_masks``
  ({image | image_hash, points_per_side?, pred_iou_thresh?, stability_score_thresh?, return_masks?} ->
  {..., masks: [{bbox, area, predicted_iou, stability_score, point, rle?}], timings}); masks are
  ``raysight.rle`` run lengths; ``weights`` is "trained" or "untrained". A provider without its
  weights raises ``WeightsMissing`` and the services fall back to the classical segmenter.
- ``read_text``: ``run`` op ``read_text`` ({image, use_cls?} -> {engine, lines: [{box: 4 [x, y]
  points, text, score}]}); the services derive colours, line heights and alignment themselves.
- ``classify_components``: a family that predicts ``classify`` and trains (``train``): the imgseg
  component classifier is trained with its ``default_model_name`` and served like any model.
- ``train`` / ``evaluate`` / ``export``: ``Backend.train_loop`` / ``evaluate`` / ``export``.
"""

from __future__ import annotations

from enum import StrEnum


class Capability(StrEnum):
    DETECT = "detect"
    CLASSIFY = "classify"
    INSTANCE_SEGMENT = "instance_segment"  # predict: detections carrying a mask outline (extra.polygon)
    SEMANTIC_SEGMENT = "semantic_segment"  # predict: one result per class present, with its mask polygons
    SEGMENT_WITH_PROMPTS = "segment_with_prompts"
    READ_TEXT = "read_text"
    CLASSIFY_COMPONENTS = "classify_components"
    TRAIN = "train"
    EVALUATE = "evaluate"
    EXPORT = "export"


class RunOp(StrEnum):
    """Operation names of ``Backend.run`` that capabilities define."""

    EMBED = "embed"  # segment_with_prompts
    PROMPT = "prompt"  # segment_with_prompts
    AUTO_MASKS = "auto_masks"  # segment_with_prompts
    READ_TEXT = "read_text"  # read_text


def parse_preferences(text: str | None) -> dict[Capability, str]:
    """``"read_text=my_ocr, segment_with_prompts=sam"`` -> {Capability: backend name}; ValueError
    naming an unknown capability or an entry without ``=``."""
    out: dict[Capability, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        cap, sep, name = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"'{item.strip()}' is not <capability>=<backend name>")
        try:
            out[Capability(cap.strip().lower())] = name.strip()
        except ValueError:
            known = ", ".join(c.value for c in Capability)
            raise ValueError(f"unknown capability '{cap.strip()}' (one of {known})") from None
    return out
