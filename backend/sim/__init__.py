"""The stand-in upstream: a CPU HTTP server that speaks OpenAI's wire exactly, or SGLang's with its real quirks.

It serves the demo and the tests, and imports nothing from the code it stands in front of (proxy/, core/).
Start it with ``alveare-migrate sim``; ``backend.sim.server`` is its entry point.
"""
