"""Tokens, signatures and field encryption."""
