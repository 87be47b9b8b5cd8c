"""Kiro accounts: the model, its Redis storage, the pool scripts and the operations on accounts."""
