"""Optimisers as plug-ins (registry kind "optimizer"): the trainer asks one for a step and never names it."""
