"""Tests that attack the system: faults, bad input, concurrent writers, leaked secrets, other users, load."""
