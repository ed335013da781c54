"""Goals: what the attack wants from the victim, as one loss per image (lower is better for the attacker) and,
for evaluation, whether each instance came out as wanted. Registered by name in patchgen.registry."""
