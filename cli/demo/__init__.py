"""``agentctl demo``: the demo app and the command that runs the demo agent against it."""
