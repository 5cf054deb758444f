"""Training objectives, as a registry: each is one function plus its validity rules and its own
settings, in a file of its own (see vaekit.objectives.objective for the contract).

Importing this package fills ``OBJECTIVES`` in a fixed order: elbo, iwae, tcvae, rae, vq, mmd.
"""

# isort: off -- the import order is the registries' order
from vaekit.objectives import elbo, mmd, rae, tcvae, vq  # noqa: F401 -- registration order
from vaekit.objectives.objective import Batch, Objective, add_terms, kl_term, means, set_terms
from vaekit.registry import KERNELS, OBJECTIVES

# isort: on

__all__ = ["KERNELS", "OBJECTIVES", "Batch", "Objective", "add_terms", "kl_term", "means", "set_terms"]
