"""Loaders: every source kind becomes labeled, lazy ``S C (Z) Y X`` image stacks."""
