"""Command bodies behind cli.py: each reads input, calls storage or the app layer, and renders."""
