"""The frozen self-supervised backbone: architecture, pretraining, export, probes."""
