"""Ray Train glue: the job supervisor (queue, start, stop, liveness), TorchTrainer runs, the worker-side
session plugins use (logs, per-epoch reports, checkpoints), and job log files.

Modules importing Ray: supervisor.py, runner.py, worker.py, client.py. logs.py and checkpoints.py are
plain Python so that services may use them.
"""
