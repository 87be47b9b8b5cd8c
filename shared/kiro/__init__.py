"""Kiro protocol pieces shared by gateway, refresher and emulator (sans-I/O)."""
