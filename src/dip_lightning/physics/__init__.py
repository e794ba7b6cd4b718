"""The physics of a restoration problem, `y = noise(A(x))`: a forward operator A that the fit uses, and
how a clean image is degraded for a synthetic experiment. Each piece works without Lightning."""
