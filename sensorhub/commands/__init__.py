"""The offline commands (after the run): one module per group, called by ``cli``."""
