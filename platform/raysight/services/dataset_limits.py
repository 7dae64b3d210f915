"""Limits on what an uploaded dataset may make the server do: pixels per image, the size of its YAML
and class files, the number of classes; and a YAML loader that refuses aliases (no alias bombs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from raysight.errors import Invalid
from raysight.settings import Settings


@dataclass(frozen=True)
class DatasetLimits:
    max_pixels: int = 50_000_000
    yaml_max_bytes: int = 256 * 1024
    max_classes: int = 10_000

    @classmethod
    def of(cls, settings: Settings) -> DatasetLimits:
        return cls(max_pixels=settings.max_image_pixels, yaml_max_bytes=settings.data_yaml_max_kb * 1024,
                   max_classes=settings.max_classes)


DEFAULT_LIMITS = DatasetLimits()


def read_small_text(path: Path, limits: DatasetLimits) -> str:
    """The text of a dataset's YAML or class-names file, refused above `yaml_max_bytes`."""
    size = path.stat().st_size
    if size > limits.yaml_max_bytes:
        raise Invalid(f"{path.name} is {size // 1024} KB, more than the {limits.yaml_max_bytes // 1024} KB "
                      "allowed (RAYSIGHT_DATA_YAML_MAX_KB)")
    return path.read_text(encoding="utf-8", errors="replace")


def safe_yaml(text: str, name: str) -> Any:
    """yaml.safe_load without aliases (`*ref` lets a few KB expand to gigabytes when read): Invalid
    for a document that uses one, None for a file that is no valid YAML (ignored, as before)."""
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise Invalid(f"{name} uses YAML aliases (*name), which are not accepted in datasets")
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def check_class_count(count: int, limits: DatasetLimits) -> None:
    if count > limits.max_classes:
        raise Invalid(f"the dataset names {count} classes, more than the {limits.max_classes} allowed "
                      "(RAYSIGHT_MAX_CLASSES)")
