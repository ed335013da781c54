"""Loss terms beside the goal's: regularisers on the artifact image, each weighted by loss.weights.NAME and
registered by name in patchgen.registry."""
