"""Long-running processes, each restartable at any moment without loss or double effect."""
