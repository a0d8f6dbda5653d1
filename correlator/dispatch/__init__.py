"""Dispatch recommendations: classes, regime, policy and safety envelope (docs/dispatch.md)."""
