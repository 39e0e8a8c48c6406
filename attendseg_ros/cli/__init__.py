"""Thin command-line entry points over plain functions."""
