"""``alveare-migrate demo``: stand-ins, proxy, workload and the automatic rollout, on one machine."""
