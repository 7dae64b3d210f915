"""AutoSele capabilities (specs/autosele-api.md) built on the core: networks, data versions, training
tasks, evaluation, release and the GPUs Ray sees. No fastapi, no ray."""
