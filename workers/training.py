"""Job "training.train": train a model on a snapshot (queue `training`, so it never holds ingestion's slots)."""

import os

from app.training.jobs import train_model
from workers.celery_app import celery_app

# Training takes every core it is given for minutes or hours; at a lower priority it yields the CPU to ingestion,
# annotation and the web on the same machine.
TRAINING_NICENESS = 10


@celery_app.task(name="training.train")
def train(run_id: int) -> None:
    """Train the run's model; a vanished or finished run is a no-op, a re-delivered one starts over."""
    if hasattr(os, "nice") and os.nice(0) < TRAINING_NICENESS:
        os.nice(TRAINING_NICENESS - os.nice(0))
    train_model(run_id)
