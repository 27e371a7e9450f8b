"""The PKU-SafeRLHF chapter (arXiv 2406.15513, with BeaverTails): data exploration, the
severity-sensitive moderation model and dual-preference training on the toy world."""
