"""The services a trial's faults act through, outside the target's process: Toxiproxy's proxies for
network faults, the restart service for restart faults."""
