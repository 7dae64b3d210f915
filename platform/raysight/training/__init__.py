"""Ray Train glue: the job supervisor (queue, start, stop, liveness), TorchTrainer runs, the worker-side
session plugins use (logs, per-epoch reports, checkpoints).

It implements the JobRunner port (client.py) and keeps the job records through the JobRecords port
(raysight.ports), never importing services; Ray's failures are read in ray_errors.py only. The plain
helpers services share with it live outside: raysight.joblog (job log lines) and
raysight.train_storage (which checkpoint a resume starts from).
"""
