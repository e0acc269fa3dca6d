"""Kernel generators that emit assembly text."""
