"""Victim families: what differs between attacking a detector and a classifier outside the goal itself, namely
the data a run reads and how its artifact is evaluated. Registered by name in patchgen.registry."""
