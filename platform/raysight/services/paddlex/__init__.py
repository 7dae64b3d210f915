"""Domain logic of the PaddleX dialect (specs/paddlex-api.md): its projects, tasks, datasets, files,
demos and model records, mapped onto the core's datasets, training jobs, models and inference."""
