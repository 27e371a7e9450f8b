"""The nine single-agent SafePO algorithms, one readable module each, sharing ``base``."""

from .cpo import CPO
from .cppo_pid import CPPOPID
from .cup import CUP
from .focops import FOCOPS
from .pcpo import PCPO
from .ppo import PPO
from .ppo_lag import PPOLag
from .rcpo import RCPO
from .trpo_lag import TRPOLag

ALGORITHMS = {cls.name: cls for cls in (PPO, PPOLag, CPPOPID, TRPOLag, CPO, PCPO, FOCOPS, CUP, RCPO)}
"""Name (``SafeRLConfig.algo``) to class."""
