"""What a trial writes down: its history, its engines' logs, the golden-run cache, and the scrubbing of
the artifacts a session keeps."""
