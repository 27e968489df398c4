"""Ansible-compatible inventory: load, validate, and select hosts by pattern."""
