"""The candidate side: SGLang launch plans, supervision, and the stand-in upstream (sim)."""
