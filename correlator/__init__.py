"""correlator package."""
