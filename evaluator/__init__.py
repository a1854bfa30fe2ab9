"""Score recorded pairs for quality parity, with honest statistics, and write parity reports."""
