"""The safe-RL half of alignbook: Safety-Gymnasium environments and the SafePO algorithms.

``envs`` imports Safety-Gymnasium on Python 3.11 (``compat``) and steps it fast; ``trainer``
runs any algorithm in ``ALGORITHMS`` with SafePO's defaults (``config.SafeRLConfig``).
"""
