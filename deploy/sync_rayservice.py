"""Copy serve_config.yaml into deploy/rayservice.yaml's serveConfigV2 (run after changing serve_config.yaml):

    python deploy/sync_rayservice.py           # rewrite the block
    python deploy/sync_rayservice.py --check   # exit 1 when the manifest is out of date

The Serve config is copied as it is (comments included) except `http_options.host`, which becomes
0.0.0.0: inside a pod the proxy must listen on the pod's address for the Kubernetes Service to reach it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "deploy" / "rayservice.yaml"
SERVE_CONFIG = ROOT / "serve_config.yaml"
KEY = "serveConfigV2: |"


def serve_config_for_pods(text: str) -> str:
    return re.sub(r"^(\s+host:\s*)\S+", r"\g<1>0.0.0.0", text, count=1, flags=re.MULTILINE)


def rendered(manifest: str, serve_config: str) -> str:
    lines = manifest.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == KEY)
    indent = len(lines[start]) - len(lines[start].lstrip()) + 2
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) >= indent):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    block = [(" " * indent + line) if line.strip() else "" for line in serve_config_for_pods(serve_config).splitlines()]
    return "\n".join(lines[: start + 1] + block + lines[end:]) + "\n"


def main() -> None:
    current = MANIFEST.read_text(encoding="utf-8")
    wanted = rendered(current, SERVE_CONFIG.read_text(encoding="utf-8"))
    if "--check" in sys.argv:
        sys.exit(0 if current == wanted else 1)
    MANIFEST.write_text(wanted, encoding="utf-8")


if __name__ == "__main__":
    main()
