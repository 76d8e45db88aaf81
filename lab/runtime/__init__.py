"""Node runtimes: how a node of the lab is made, reached and removed (see base.py)."""
