"""Docker for the lab: images built without a registry (``images``), a private engine
(``engine``) and their command line (``cli``). The docker backend builds on these."""
