"""Training: the loop (``loop``: ``fit`` and the ``Trainer``), the engine that runs it on one
process or many (Lightning Fabric), the optimizer's CPU fast path, LR schedules, the device and
precision choice, and experiment trackers. Import the module you need; this package imports
nothing, so ``vaekit.train.device`` does not load the loop."""
