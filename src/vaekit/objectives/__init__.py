"""Training objectives, as a registry: each is one function plus its validity rules and its own
settings, in a file of its own (see vaekit.objectives.objective for the contract).

Importing this package fills ``OBJECTIVES`` in a fixed order: elbo, iwae, tcvae, rae, vq, mmd,
factor, dip, sharp.
"""

# the import order is the registries' order (pyproject.toml keeps isort off this file)
from vaekit.objectives.objective import Batch, Objective, add_terms, kl_term, means, set_terms, terms_of
from vaekit.objectives import elbo, tcvae, rae, vq, mmd, factor, dip, sharp  # noqa: F401
from vaekit.registry import KERNELS, OBJECTIVES

__all__ = ["KERNELS", "OBJECTIVES", "Batch", "Objective", "add_terms", "kl_term", "means", "set_terms",
           "terms_of"]
